/**
 * maintenance.sh for real: a checked backup first (s3rver), VACUUM/ANALYZE with the service
 * stopped and always started again, integrity afterwards, and pruning with an age filter.
 */
import { specFile } from '../support/spec-file.js';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseFleet } from '../../lib/config/load.js';
import { MaintenanceResult } from '../../lib/results/maintenance.js';
import { backupSpecLines } from '../../lib/runbooks/backup.js';
import { maintenanceSpecLines } from '../../lib/runbooks/maintenance.js';
import { startS3 } from '../support/aws-local.js';
import { FakeHost, running } from '../support/fake-host.js';
import { runHostScript } from '../support/run-script.js';

const BUCKET = 'maint';
let s3: Awaited<ReturnType<typeof startS3>>;
let awsBin: string;
let host: FakeHost;
beforeAll(async () => {
  s3 = await startS3([BUCKET]);
  awsBin = mkdtempSync(join(tmpdir(), 'aws-bin-'));
  symlinkSync('/usr/bin/aws', join(awsBin, 'aws'));
});
afterAll(() => s3.stop());
afterEach(() => host?.dispose());

const sqlite = (db: string, sql: string) => execFileSync('sqlite3', [db, sql], { encoding: 'utf8' }).trim();

function prepare(volumes: { name: string }[] = []) {
  host = new FakeHost();
  const root = join(host.dir, 'root');
  mkdirSync(join(root, 'data'), { recursive: true });
  mkdirSync(join(root, 'tmp'));
  const db = join(root, 'data', 'app.db');
  sqlite(db, 'CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM s WHERE i < 5000) INSERT INTO t(v) SELECT hex(randomblob(100)) FROM s; DELETE FROM t WHERE id % 2 = 0;');
  host.setContainers({ app: running({ root, Mounts: [{ Destination: '/data', Source: join(root, 'data') }] }) });
  const fleet = parseFleet({ fleet: 'demo', stacks: [{ name: 'web', hosts: { tag: { key: 'R', value: 'w' } }, services: [{ name: 'app', container: 'app' }],
    backup: { sqlite: [{ name: 'app-db', container: 'app', path: '/data/app.db' }], volumes },
    maintenance: { sqlite: [{ name: 'app-db', container: 'app', path: '/data/app.db', operations: ['vacuum', 'analyze'] }], prune: { images: true, containers: true, olderThanHours: 72 } } }] });
  const stack = fleet.stacks[0]!;
  return { db, env: host.env({
    PATH: `${awsBin}:${host.env().PATH}`, SHIPSHAPE_STACK: 'web', SHIPSHAPE_RUN_ID: 'm', SHIPSHAPE_SPEC_FILE: specFile({ backup: backupSpecLines(stack.backup!), maintenance: maintenanceSpecLines(stack.maintenance!) }),
    SHIPSHAPE_BUCKET: BUCKET, SHIPSHAPE_S3_ENDPOINT: s3.endpoint, SHIPSHAPE_HEALTH_WAIT_SECONDS: '1', SHIPSHAPE_SQLITE_TIMEOUT_MS: '300', SHIPSHAPE_LOCK_DIR: join(host.dir, 'locks'),
    AWS_SSM_INSTANCE_ID: 'i-0000000000000m001'.replace('m', '0'), AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_DEFAULT_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true', HOME: host.dir,
  }) };
}

async function maintain(env: Record<string, string>) {
  const run = await runHostScript('maintenance.sh', env, 120_000);
  const parsed = MaintenanceResult.safeParse(run.json);
  expect(parsed.success, `${run.stdout}\n${run.stderr}`).toBe(true);
  return parsed.data!;
}
const stopsAndStarts = () => host.calls().filter((c) => ['stop', 'start'].includes(c[0]!)).map((c) => `${c[0]} ${c[c.length - 1]}`);

describe('maintenance.sh', () => {
  it('backs up and checks the backup first, then VACUUMs with the service stopped, checks integrity and starts it again', async () => {
    // Prepare
    const { db, env } = prepare();
    const before = statSync(db).size;
    const rows = sqlite(db, 'SELECT COUNT(*) FROM t;');
    // Act
    const r = await maintain(env);
    // Assess
    expect(r.errors).toEqual([]);
    expect(r.backupPrefix).toMatch(/^backups\/web\/i-0000000000000[0-9a-z]+\/\d{8}T\d{6}Z$/);
    expect(r.sqlite).toEqual([expect.objectContaining({ name: 'app-db', ok: true, stopped: true, integrity: 'ok', operations: 'vacuum,analyze' })]);
    expect(statSync(db).size).toBeLessThan(before);
    expect(sqlite(db, 'SELECT COUNT(*) FROM t;')).toBe(rows);
    expect(stopsAndStarts()).toEqual(['stop app', 'start app']);
    expect(r.prune).toEqual([{ what: 'images', ok: true, reclaimed: '1.5GB' }, { what: 'containers', ok: true, reclaimed: '12MB' }]);
    expect(host.calls().filter((c) => c[1] === 'prune')).toEqual([['image', 'prune', '-a', '-f', '--filter', 'until=72h'], ['container', 'prune', '-f', '--filter', 'until=72h']]);
  });

  it('starts the service again when VACUUM fails, and leaves the database intact', async () => {
    // Prepare: another process holds a write transaction (readers, like the backup, still read)
    const { db, env } = prepare();
    const rows = sqlite(db, 'SELECT COUNT(*) FROM t;');
    const locker = spawn('sqlite3', [db], { stdio: ['pipe', 'ignore', 'ignore'] });
    locker.stdin.write('BEGIN IMMEDIATE;\n');
    await new Promise((res) => setTimeout(res, 300));
    // Act
    let r: MaintenanceResult;
    try {
      r = await maintain(env);
    } finally {
      locker.kill();
    }
    // Assess
    expect(r.sqlite[0]).toMatchObject({ ok: false, stopped: true, error: expect.stringMatching(/locked/) });
    expect(stopsAndStarts()).toEqual(['stop app', 'start app']);
    expect(host.containers().app!.State.Status).toBe('running');
    expect(sqlite(db, 'PRAGMA integrity_check;')).toBe('ok');
    expect(sqlite(db, 'SELECT COUNT(*) FROM t;')).toBe(rows);
  });

  it('puts the database back as it was when the service is not healthy after maintenance', async () => {
    // Prepare: the app reports unhealthy after any start
    const { db, env } = prepare();
    const before = execFileSync('sha256sum', [db], { encoding: 'utf8' }).split(' ')[0];
    const c = host.containers();
    c.app!.healthAfterStart = 'unhealthy';
    host.setContainers(c);
    // Act
    const r = await maintain(env);
    // Assess
    expect(r.sqlite[0]).toMatchObject({ ok: false, stopped: true, rolledBack: true, error: expect.stringMatching(/app is not back and healthy/) });
    expect(execFileSync('sha256sum', [db], { encoding: 'utf8' }).split(' ')[0]).toBe(before);
    expect(host.containers().app!.State.Status).toBe('running');
  });

  it('fails when integrity_check answers nothing after the VACUUM, and puts the database back', async () => {
    // Prepare: the host's sqlite3 runs every statement for real but prints nothing for integrity_check
    // of the live file (the backup's check of its own snapshot still answers)
    const { db, env } = prepare();
    const before = execFileSync('sha256sum', [db], { encoding: 'utf8' }).split(' ')[0];
    const bin = mkdtempSync(join(tmpdir(), 'silent-sqlite-'));
    writeFileSync(join(bin, 'sqlite3'), `#!/bin/bash\ncase "$*" in *${db}*integrity_check*) exit 0 ;; esac\nexec ${execFileSync('bash', ['-c', 'command -v sqlite3'], { encoding: 'utf8' }).trim()} "$@"\n`, { mode: 0o755 });
    // Act
    const r = await maintain({ ...env, PATH: `${bin}:${env.PATH}` });
    // Assess
    expect(r.sqlite[0]).toMatchObject({ ok: false, integrity: null, rolledBack: true, error: expect.stringContaining('integrity_check after maintenance: no answer') });
    expect(r.errors).toEqual([expect.stringContaining('app-db: ')]);
    expect(execFileSync('sha256sum', [db], { encoding: 'utf8' }).split(' ')[0]).toBe(before);
    expect(host.containers().app!.State.Status).toBe('running');
  });

  it('touches no database when the backup before it fails', async () => {
    const { env } = prepare([{ name: 'no-such-volume' }]);
    const r = await maintain(env);
    expect(r.errors[0]).toMatch(/the backup before maintenance did not complete, so no database was touched/);
    expect(r.sqlite).toEqual([]);
    expect(stopsAndStarts()).toEqual([]);
  });
});
