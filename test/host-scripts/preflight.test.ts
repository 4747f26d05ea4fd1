/**
 * preflight.sh against a fake docker: a compose project as compose labels it, a fake AWS CLI and
 * docker-compose on PATH. One host where everything the config names is there, one where each
 * kind of thing is missing; every check is reported and nothing stops the run.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { evaluatePreflight } from '../../lambdas/result/evaluate-preflight.js';
import { parseFleet } from '../../lib/config/load.js';
import { failing } from '../../lib/results/findings.js';
import { PreflightResult } from '../../lib/results/preflight.js';
import { backupSpecLines } from '../../lib/runbooks/backup.js';
import { composeSpecLines } from '../../lib/runbooks/compose.js';
import { healthCheckSpecLines } from '../../lib/runbooks/health-check.js';
import { integritySpecLines } from '../../lib/runbooks/integrity.js';
import { secretsSpecLines } from '../../lib/runbooks/secrets.js';
import { composeLabels, composeVolume } from '../support/compose.js';
import { FakeHost, running, type FakeContainer } from '../support/fake-host.js';
import { runHostScript } from '../support/run-script.js';
import { specFile } from '../support/spec-file.js';

let host: FakeHost | undefined;
afterEach(() => host?.dispose());

interface Setup { awsVersion?: string; bucketFails?: boolean; broken?: boolean; region?: string | null; curlVersion?: string; s3?: Record<string, string> }

async function preflight(opts: Setup = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'preflight-'));
  const app = join(dir, 'app');
  const data = join(dir, 'volumes', 'shop_data');
  mkdirSync(join(app, 'secrets'), { recursive: true });
  mkdirSync(data, { recursive: true });
  execFileSync('sqlite3', [join(data, 'app.db'), 'CREATE TABLE t(x); INSERT INTO t VALUES (1);']);
  writeFileSync(join(app, '.env'), 'JWT_SECRET=x\n');
  writeFileSync(join(app, 'secrets', 'key'), 'k\n');
  const c = (service: string, extra: Partial<FakeContainer> = {}): FakeContainer => running({ ...extra, Config: { Labels: composeLabels('shop', service, 1, app), Env: opts.broken ? ['PATH=/bin'] : ['PATH=/bin', 'JWT_SECRET=x'] } });
  host = new FakeHost({
    'shop-api-1': c('api', { Mounts: [{ Source: join(app, 'secrets'), Destination: '/run/secrets' }] }),
    'shop-db-1': c('db', { Mounts: [{ Source: data, Destination: '/data', Name: 'shop_data' }] }),
    'shop-pg-1': c('pg', { commands: { pg_dump: { stdout: 'pg_dump (PostgreSQL) 15.8\n' }, psql: { stdout: '7340032\n' } } }),
  });
  host.setVolumes(composeVolume('shop', 'data', data));
  const bin = mkdtempSync(join(tmpdir(), 'preflight-bin-'));
  writeFileSync(join(bin, 'aws'), `#!/bin/sh\necho "\${AWS_REGION:-none} \${AWS_DEFAULT_REGION:-none} $1 $2" >> "${join(dir, 'aws-calls.log')}"\ncase "$1" in\n  --version) echo "aws-cli/${opts.awsVersion ?? '2.9.19'} Python/3.11.2 Linux/6.1 source/x86_64.debian.12 prompt/off" ;;\n  configure) exit 1 ;;\n  s3api) ${opts.bucketFails ? 'echo "An error occurred (AccessDenied) when calling the ListObjectsV2 operation: Access Denied" >&2; exit 254' : 'exit 0'} ;;\nesac\n`, { mode: 0o755 });
  writeFileSync(join(bin, 'docker-compose'), '#!/bin/sh\necho "docker-compose version 1.29.2"\n', { mode: 0o755 });
  if (opts.curlVersion) writeFileSync(join(bin, 'curl'), `#!/bin/sh\necho "curl ${opts.curlVersion} (x86_64-pc-linux-gnu) libcurl/${opts.curlVersion}"\n`, { mode: 0o755 });
  const fleet = parseFleet({ fleet: 'demo', stacks: [{ name: 'web', hosts: { tag: { key: 'R', value: 'w' } }, composeDir: app.replace(/app$/, 'shop'),
    services: [{ name: 'api', http: [{ url: 'http://127.0.0.1:1/health' }] }, { name: 'db', container: opts.broken ? 'dbb' : 'db' }, { name: 'pg' }],
    backup: {
      volumes: [{ name: opts.broken ? 'dta' : 'data' }], paths: [{ name: 'conf', path: opts.broken ? join(dir, 'nope') : app }],
      sqlite: [{ name: 'app', container: 'db', path: opts.broken ? '/var/lib/app.db' : '/data/app.db' }],
      postgres: [{ name: 'main', container: 'pg', database: 'app' }],
    },
    integrity: { certificates: [{ name: 'site', tls: { host: '127.0.0.1', port: 443 } }] },
    secrets: [{ name: 'jwt', envFile: join(app, '.env'), variable: 'JWT_SECRET', restart: ['api'] }, { name: 'key', file: join(app, 'secrets', 'key'), restart: ['api'] }] }] });
  const stack = fleet.stacks[0]!;
  const spec = specFile({ compose: composeSpecLines(stack), 'health-check': healthCheckSpecLines(fleet, stack), backup: backupSpecLines(stack.backup!), integrity: integritySpecLines(stack, stack.integrity!), secrets: secretsSpecLines(fleet, stack) });
  const region: Record<string, string> = opts.region === null ? {} : { SHIPSHAPE_REGION: opts.region ?? 'eu-central-1' };
  const run = await runHostScript('preflight.sh', host.env({ PATH: `${bin}:${host.env().PATH}`, SHIPSHAPE_STACK: 'web', SHIPSHAPE_RUN_ID: 'p', SHIPSHAPE_SPEC_FILE: spec, SHIPSHAPE_BUCKET: 'backups-bucket',
    // No instance role here, whatever machine runs the tests: S3 goes through the fake CLI unless a case gives credentials.
    AWS_EC2_METADATA_DISABLED: 'true', ...region, ...opts.s3 }));
  const parsed = PreflightResult.safeParse(run.json);
  expect(parsed.success, `${run.stdout}\n${run.stderr}\n${JSON.stringify(parsed.error?.issues)}`).toBe(true);
  return { result: parsed.data!, fleet, awsCalls: () => readFileSync(join(dir, 'aws-calls.log'), 'utf8').trim().split('\n') };
}
const failed = (r: PreflightResult) => r.checks.filter((c) => !c.ok).map((c) => [c.check, c.target, c.required]);

describe('preflight.sh', () => {
  it('finds everything the config names on a host that matches, with tool versions', async () => {
    // Act
    const { result, fleet } = await preflight({ awsVersion: '2.24.5' });
    // Assess
    expect(result).toMatchObject({ project: 'shop', runbooks: ['health-check', 'restart', 'backup', 'restore', 'drill', 'integrity', 'apply-secret'], errors: [] });
    expect(failed(result)).toEqual([]);
    const byTarget = (check: string, target: string) => result.checks.find((c) => c.check === check && c.target === target);
    expect(byTarget('compose.project', 'shop')!.detail).toContain('working directory');
    expect(byTarget('name.container', 'api')!.detail).toBe('service api: shop-api-1');
    expect(byTarget('name.volume', 'data')!.detail).toBe('volume shop_data');
    expect(byTarget('file.database', 'app')!.detail).toMatch(/\/data\/app.db in shop-db-1 is .*shop_data\/app.db on the host, \d+ bytes/);
    expect(byTarget('tool', 'pg_dump in shop-pg-1')).toMatchObject({ ok: true, version: 'pg_dump (PostgreSQL) 15.8' });
    expect(byTarget('tool', 's3-transport')).toMatchObject({ ok: true, required: true, version: expect.stringMatching(/^curl \d+\.\d+/) });
    expect(byTarget('tool', 's3-transport')!.detail).toContain("curl's SigV4");
    expect(byTarget('tool', 'aws')).toMatchObject({ ok: true, detail: 'Secrets Manager calls' });
    expect(byTarget('tool', 'aws-checksums'), 'the CLI uploads nothing when curl signs').toBeUndefined();
    expect(byTarget('tool', 'sqlite3')!.version).toMatch(/^3\./);
    expect(byTarget('space.temp', process.env.TMPDIR ?? '/tmp')!.detail).toContain('PostgreSQL dump of main');
    expect(byTarget('region', 'eu-central-1')).toMatchObject({ ok: true });
    expect(byTarget('secret.delivery', 'jwt -> shop-api-1')!.detail).toBe('recreate (env file) with docker-compose, service api; JWT_SECRET is in its environment');
    expect(byTarget('secret.delivery', 'key -> shop-api-1')!.detail).toBe('restart (file): mounted at /run/secrets/key');
    expect(byTarget('bucket.access', 'backups-bucket')).toMatchObject({ ok: true });
    expect(failing(evaluatePreflight(result, fleet, fleet.stacks[0]!))).toEqual([]);
  });

  it('reports each thing that does not match, and never stops at the first', async () => {
    // Act
    const { result, fleet } = await preflight({ broken: true, bucketFails: true, region: null, curlVersion: '7.68.0' });
    // Assess
    expect(failed(result)).toEqual([
      ['tool', 'aws-checksums', false],
      ['name.container', 'dbb', true],
      ['name.volume', 'dta', true],
      ['path', expect.stringMatching(/\/nope$/), true],
      ['file.database', 'app', true],
      ['region', '-', true],
      ['secret.delivery', 'jwt -> shop-api-1', true],
      ['bucket.access', 'backups-bucket', true],
    ]);
    const detail = (check: string) => result.checks.find((c) => c.check === check && !c.ok)!.detail;
    expect(detail('name.container')).toContain("looked for compose service 'dbb' of project 'shop'");
    expect(detail('name.volume')).toContain("found volumes of project 'shop': shop_data");
    expect(detail('file.database')).toContain('/var/lib/app.db is in the writable layer of shop-db-1');
    expect(detail('secret.delivery')).toContain('JWT_SECRET is not in the environment of shop-api-1');
    expect(detail('bucket.access')).toContain('AccessDenied');
    expect(detail('tool')).toContain('does not send checksums by default: uploads to a bucket with Object Lock fail');
    expect(result.checks.find((c) => c.target === 's3-transport')!.detail).toBe('S3 through the AWS CLI: curl 7.68.0 (x86_64-pc-linux-gnu) libcurl/7.68.0 cannot sign uploads (needs curl 7.88)');
    expect(result.checks.find((c) => c.target === 'aws')!.detail).toBe('Secrets Manager calls and S3 calls (curl cannot sign)');
    const findings = failing(evaluatePreflight(result, fleet, fleet.stacks[0]!));
    expect(findings.filter((f) => f.severity === 'critical')).toHaveLength(7);
    expect(findings.find((f) => f.target === 'aws-checksums')!.severity).toBe('warning');
  });

  it('makes every AWS call in the document\'s region', async () => {
    // Act
    const { awsCalls } = await preflight({ region: 'ca-central-1' });
    // Assess
    expect(awsCalls()).toEqual(['ca-central-1 ca-central-1 --version ', 'ca-central-1 ca-central-1 s3api list-objects-v2']);
  });

  describe('bucket access through curl', () => {
    let server: Server | undefined;
    afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));
    /** An S3 endpoint that answers every listing with <status> and <body>, and keeps the request paths. */
    async function endpoint(status: number, body: string) {
      const seen: string[] = [];
      server = createServer((req, res) => { seen.push(`${req.method} ${req.url}`); res.writeHead(status, { 'content-type': 'application/xml' }); res.end(body); });
      await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
      const creds = { AWS_ACCESS_KEY_ID: 'AKIDPREFLIGHT', AWS_SECRET_ACCESS_KEY: 'preflight-secret', SHIPSHAPE_S3_ENDPOINT: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
      return { creds, seen };
    }

    it('lists only under the stack\'s own backup prefix, which the host role may list (HeadBucket never may)', async () => {
      // Prepare
      const { creds, seen } = await endpoint(200, '<ListBucketResult><IsTruncated>false</IsTruncated><KeyCount>0</KeyCount></ListBucketResult>');
      // Act
      const { result } = await preflight({ s3: creds });
      // Assess
      expect(result.checks.find((c) => c.check === 'bucket.access')).toMatchObject({ ok: true, detail: "this host's role lists backups/web/.preflight/ (S3 through curl)" });
      expect(seen).toEqual([expect.stringMatching(/^GET \/backups-bucket\?list-type=2&prefix=backups%2Fweb%2F.preflight%2F$/)]);
    });

    it('fails when the role may not list the bucket, with S3\'s reason', async () => {
      // Prepare
      const { creds } = await endpoint(403, '<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>');
      // Act
      const { result } = await preflight({ s3: creds });
      // Assess
      const check = result.checks.find((c) => c.check === 'bucket.access')!;
      expect(check.ok).toBe(false);
      expect(check.detail).toMatch(/^listing backups\/web\/.preflight\/ through curl failed: .*AccessDenied/);
      expect(check.detail).not.toContain('preflight-secret');
    });
  });
});
