/**
 * integrity.sh for real: openssl-made certificates (expired, 5 days, valid, wrong name), a
 * TLS server from `openssl s_server`, a closed port, a file with the wrong mode, a corrupt
 * SQLite file, and a container log without limits.
 */
import { specFile } from '../support/spec-file.js';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateIntegrity, nameCovers } from '../../lambdas/result/evaluate-integrity.js';
import type { Fleet } from '../../lib/config/schema.js';
import { failing } from '../../lib/results/findings.js';
import { IntegrityResult } from '../../lib/results/integrity.js';
import { integritySpecLines } from '../../lib/runbooks/integrity.js';
import { makeCert } from '../support/certs.js';
import { FakeHost, running } from '../support/fake-host.js';
import { demoFleet } from '../support/fleets.js';
import { runHostScript } from '../support/run-script.js';
import { closedPort } from '../support/servers.js';
import { waitFor } from '../support/podman.js';

let host: FakeHost;
let server: ChildProcess;
let tlsPort: number;
let fleet: Fleet;
let result: IntegrityResult;

beforeAll(async () => {
  host = new FakeHost();
  const root = join(host.dir, 'root');
  mkdirSync(join(root, 'data'), { recursive: true });
  mkdirSync(join(root, 'etc'), { recursive: true });
  execFileSync('sqlite3', [join(root, 'data', 'good.db'), 'CREATE TABLE t(x); INSERT INTO t VALUES (1);']);
  execFileSync('sqlite3', [join(root, 'data', 'bad.db'), 'CREATE TABLE t(x, y); WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM s WHERE i < 2000) INSERT INTO t SELECT i, hex(randomblob(50)) FROM s; CREATE INDEX ti ON t(y);']);
  const bad = readFileSync(join(root, 'data', 'bad.db'));
  bad.fill(0x42, 8192, 12288);
  writeFileSync(join(root, 'data', 'bad.db'), bad);
  const certs = {
    expired: makeCert({ cn: 'old.example.com', expired: true }),
    soon: makeCert({ cn: 'soon.example.com', sans: ['soon.example.com'], days: 5 }),
    valid: makeCert({ cn: 'web.example.com', sans: ['web.example.com', '*.internal.example.com'], days: 365 }),
    wrongName: makeCert({ cn: 'other.example.com', sans: ['other.example.com'], days: 365 }),
  };
  copyFileSync(certs.valid.cert, join(root, 'etc', 'in-container.pem'));
  const secret = join(host.dir, 'secret.env');
  writeFileSync(secret, 'KEY=1\n');
  chmodSync(secret, 0o644);
  const log = join(host.dir, 'api.log');
  writeFileSync(log, Buffer.alloc(3 * 1024 * 1024));
  host.setContainers({
    // /data is a bind mount: the host's sqlite3 reads the databases there (runIn: host, the default).
    'web-api-1': running({ root, LogPath: log, Mounts: [{ Source: join(root, 'data'), Destination: '/data' }] }),
    'web-db-1': running({ HostConfig: { LogConfig: { Type: 'json-file', Config: { 'max-size': '10m' } } } }),
  });
  tlsPort = await closedPort();
  server = spawn('openssl', ['s_server', '-cert', certs.valid.cert, '-key', certs.valid.key, '-accept', String(tlsPort), '-www', '-quiet'], { stdio: 'ignore' });
  await waitFor(async () => execFileSync('bash', ['-c', `(exec 3<>/dev/tcp/127.0.0.1/${tlsPort}) 2>/dev/null && echo up || true`], { encoding: 'utf8' }).includes('up'), 'openssl s_server');
  const dead = await closedPort();
  fleet = demoFleet((f) => {
    f.stacks[0]!.integrity = {
      sqlite: [{ name: 'good', container: 'web-api-1', path: '/data/good.db' }, { name: 'bad', container: 'web-api-1', path: '/data/bad.db', mode: 'quick' },
        { name: 'inside', container: 'web-api-1', path: '/data/good.db', runIn: 'container' }, { name: 'in-layer', container: 'web-api-1', path: '/var/app.db' }],
      certificates: [
        { name: 'expired', file: certs.expired.cert },
        { name: 'soon', file: certs.soon.cert, warningDays: 30, criticalDays: 7 },
        { name: 'valid', file: certs.valid.cert, expectName: 'api.internal.example.com' },
        { name: 'sans', file: certs.valid.cert, expectNames: ['web.example.com', 'api.internal.example.com', 'www.example.com', 'example.com'] },
        { name: 'wrong-name', file: certs.wrongName.cert, expectName: 'web.example.com' },
        { name: 'in-container', file: '/etc/in-container.pem', container: 'web-api-1' },
        { name: 'endpoint', tls: { host: '127.0.0.1', port: tlsPort, serverName: 'web.example.com' } },
      ],
      connectivity: [{ name: 'to-tls', host: '127.0.0.1', port: tlsPort }, { name: 'to-nowhere', host: '127.0.0.1', port: dead }],
      files: [{ path: secret, mode: '0600' }, { path: join(host.dir, 'missing.conf') }],
      logMaxMiB: 2,
    };
  });
  const run = await runHostScript('integrity.sh', host.env({ SHIPSHAPE_STACK: 'web', SHIPSHAPE_RUN_ID: 'i', SHIPSHAPE_SPEC_FILE: specFile({ integrity: integritySpecLines(fleet.stacks[0]!, fleet.stacks[0]!.integrity!) }) }), 60_000);
  const parsed = IntegrityResult.safeParse(run.json);
  expect(parsed.success, `${run.stdout}\n${run.stderr}`).toBe(true);
  result = parsed.data!;
});
afterAll(() => {
  server?.kill();
  host?.dispose();
});

const finding = (check: string, target: string) => evaluateIntegrity(result, fleet, fleet.stacks[0]!).find((f) => f.check === check && f.target === target)!;

describe('integrity.sh', () => {
  it('checks SQLite read-only: a healthy file passes, a corrupt one is critical', () => {
    expect(finding('integrity.sqlite', 'good').severity).toBe('ok');
    expect(finding('integrity.sqlite', 'bad')).toMatchObject({ severity: 'critical' });
    expect(finding('integrity.sqlite', 'bad').message).toMatch(/damaged or unreadable/);
  });

  it('grades certificates by days left: expired and 5 days are critical, a year is fine', () => {
    expect(finding('integrity.cert', 'expired')).toMatchObject({ severity: 'critical', message: expect.stringMatching(/expired \d+ day\(s\) ago/) });
    expect(finding('integrity.cert', 'soon')).toMatchObject({ severity: 'critical' });
    expect([4, 5]).toContain(finding('integrity.cert', 'soon').observed);
    expect(finding('integrity.cert', 'valid').severity).toBe('ok');
    expect(finding('integrity.cert', 'in-container').severity).toBe('ok');
  });

  it('runs the host\'s sqlite3 on the mounted file, inside the container when asked, and names a database in the writable layer', () => {
    expect(finding('integrity.sqlite', 'inside').severity).toBe('ok');
    expect(finding('integrity.sqlite', 'in-layer').message).toContain('/var/app.db is in the writable layer of web-api-1');
    const sqliteExecs = host.calls().filter((c) => c[0] === 'exec' && c.includes('sqlite3'));
    expect(sqliteExecs).toHaveLength(1);
  });

  it('reports each expected certificate name that is missing', () => {
    const names = evaluateIntegrity(result, fleet, fleet.stacks[0]!).filter((f) => f.check === 'integrity.cert-name' && f.target.startsWith('sans'));
    expect(names.map((f) => [f.target, f.severity])).toEqual([
      ['sans: web.example.com', 'ok'], ['sans: api.internal.example.com', 'ok'], ['sans: www.example.com', 'critical'], ['sans: example.com', 'critical'],
    ]);
  });

  it('checks the names a certificate covers, wildcards included', () => {
    expect(finding('integrity.cert-name', 'valid').severity).toBe('ok');
    expect(finding('integrity.cert-name', 'wrong-name')).toMatchObject({ severity: 'critical', observed: 'other.example.com' });
    expect(nameCovers('*.internal.example.com', 'a.b.internal.example.com')).toBe(false);
  });

  it('reads a live TLS endpoint with SNI', () => {
    expect(finding('integrity.cert', 'endpoint').severity).toBe('ok');
    expect(finding('integrity.cert-name', 'endpoint').severity).toBe('ok');
  });

  it('finds an open and a closed port', () => {
    expect(finding('integrity.connect', 'to-tls').severity).toBe('ok');
    expect(finding('integrity.connect', 'to-nowhere')).toMatchObject({ severity: 'critical', message: expect.stringMatching(/not reachable from the host/) });
  });

  it('flags a file with the wrong mode and a missing one', () => {
    expect(finding('integrity.file', join(host.dir, 'secret.env'))).toMatchObject({ severity: 'warning', observed: 'mode 644, expected 0600' });
    expect(finding('integrity.file', join(host.dir, 'missing.conf'))).toMatchObject({ severity: 'critical', observed: 'missing' });
  });

  it('warns about a big container log and shows the compose snippet for log limits', () => {
    expect(finding('integrity.logsize', 'web-api-1')).toMatchObject({ severity: 'warning', observed: 3 });
    expect(finding('integrity.logsize', 'web-api-1').message).toMatch(/max-size: "10m"/);
    expect(finding('integrity.logsize', 'web-db-1').severity).toBe('ok');
  });

  it('finds exactly the expected problems and nothing else', () => {
    expect(failing(evaluateIntegrity(result, fleet, fleet.stacks[0]!)).map((f) => `${f.check} ${f.target}`).sort()).toEqual([
      'integrity.cert expired', 'integrity.cert soon', 'integrity.cert-name wrong-name', 'integrity.cert-name sans: www.example.com', 'integrity.cert-name sans: example.com', 'integrity.sqlite in-layer', 'integrity.connect to-nowhere',
      `integrity.file ${join(host.dir, 'missing.conf')}`, `integrity.file ${join(host.dir, 'secret.env')}`, 'integrity.logsize web-api-1', 'integrity.sqlite bad',
    ].sort());
  });
});
