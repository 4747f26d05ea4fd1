/**
 * backup.sh for real: sqlite3, tar, zstd and the AWS CLI against s3rver, with a fake docker
 * whose containers keep their files in host directories.
 */
import { specFile } from '../support/spec-file.js';
import { composeContainer, composeVolume } from '../support/compose.js';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { appendFileSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseFleet } from '../../lib/config/load.js';
import type { FleetConfigInput } from '../../lib/config/schema.js';
import { BackupManifest, BackupResult } from '../../lib/results/backup.js';
import { backupSpecLines } from '../../lib/runbooks/backup.js';
import { startS3 } from '../support/aws-local.js';
import { FakeHost, running } from '../support/fake-host.js';
import { runHostScript } from '../support/run-script.js';

const BUCKET = 'backup-bucket';
let s3: Awaited<ReturnType<typeof startS3>>;
let awsBin: string;
let host: FakeHost | undefined;
// Each host backs up as an instance of its own: run prefixes are stamped to the second, and a
// run in a second another run of the same instance holds waits that second out.
let hosts = 0;
let hostInstance = '';

beforeAll(async () => {
  s3 = await startS3([BUCKET]);
  // Debian's AWS CLI v2 (a pyenv shim may come first on PATH).
  awsBin = mkdtempSync(join(tmpdir(), 'aws-bin-'));
  expect(existsSync('/usr/bin/aws'), 'the AWS CLI must be installed (apt-get install awscli; .ci/run does)').toBe(true);
  symlinkSync('/usr/bin/aws', join(awsBin, 'aws'));
});
afterAll(() => s3.stop());
afterEach(() => host?.dispose());

type BackupInput = NonNullable<FleetConfigInput['stacks'][number]['backup']>;
function spec(backup: BackupInput): string {
  const fleet = parseFleet({ fleet: 'demo', stacks: [{ name: 'web', hosts: { tag: { key: 'R', value: 'w' } }, services: [{ name: 'api', container: 'api' }], backup }] });
  return specFile({ backup: backupSpecLines(fleet.stacks[0]!.backup!) });
}

function sqlite(db: string, sql: string): string {
  return execFileSync('sqlite3', [db, sql], { encoding: 'utf8' }).trim();
}

/** A host with an app container (SQLite in its root), a named volume and a host path. */
function prepareHost(extra: Record<string, Parameters<typeof running>[0]> = {}) {
  host = new FakeHost();
  hostInstance = `i-0a${(++hosts).toString(16).padStart(15, '0')}`;
  const root = join(host.dir, 'app-root');
  mkdirSync(join(root, 'data'), { recursive: true });
  mkdirSync(join(root, 'tmp'));
  const db = join(root, 'data', 'app.db');
  sqlite(db, "PRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM s WHERE i < 1000) INSERT INTO t(v) SELECT hex(randomblob(32)) FROM s;");
  const vol = join(host.dir, 'vol');
  mkdirSync(join(vol, 'certs'), { recursive: true });
  writeFileSync(join(vol, 'certs', 'server.pem'), 'PEM DATA\n');
  writeFileSync(join(vol, 'noise.log'), 'x'.repeat(1000));
  const uploads = join(host.dir, 'uploads');
  mkdirSync(uploads);
  for (let i = 0; i < 20; i++) writeFileSync(join(uploads, `f${i}.bin`), createHash('sha256').update(String(i)).digest());
  host.setContainers({ app: running({ root, Mounts: [{ Destination: '/data', Source: join(root, 'data') }] }), worker: running(), ...Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, running(v)])) });
  host.setVolumes({ app_certs: vol });
  return { root, db, vol, uploads };
}

async function runBackup(specPath: string, env: Record<string, string> = {}) {
  const run = await runHostScript('backup.sh', host!.env({
    PATH: `${awsBin}:${host!.env().PATH}`,
    SHIPSHAPE_STACK: 'web', SHIPSHAPE_RUN_ID: 'run-1', SHIPSHAPE_SPEC_FILE: specPath, SHIPSHAPE_BUCKET: BUCKET,
    SHIPSHAPE_S3_ENDPOINT: s3.endpoint, SHIPSHAPE_HEALTH_WAIT_SECONDS: '1', AWS_SSM_INSTANCE_ID: hostInstance, SHIPSHAPE_LOCK_DIR: join(host!.dir, 'locks'),
    AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_DEFAULT_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true', HOME: host!.dir,
    ...env,
  }), 120_000);
  expect(run.status, run.stderr).toBe(0);
  const parsed = BackupResult.safeParse(run.json);
  expect(parsed.success, `${run.stdout}\n${run.stderr}`).toBe(true);
  return parsed.data!;
}

async function getObject(key: string): Promise<Buffer> {
  const o = await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from(await o.Body!.transformToByteArray());
}
async function keys(prefix: string): Promise<string[]> {
  const r = await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  return (r.Contents ?? []).map((c) => c.Key!).sort();
}
function unpack(buf: Buffer, ext: 'zst' | 'gz'): Buffer {
  return execFileSync(ext === 'zst' ? 'zstd' : 'gzip', ['-dc'], { input: buf, maxBuffer: 256 * 1024 * 1024 });
}

const FULL: BackupInput = {
  sqlite: [{ name: 'app-db', container: 'app', path: '/data/app.db' }],
  volumes: [{ name: 'app_certs' }],
  paths: [{ name: 'uploads', path: '/PLACEHOLDER' }],
  exclude: ['*.log'],
  stop: ['worker'],
};

describe('backup.sh', () => {
  it('archives SQLite, a volume and a path, uploads them with checksums, and writes the manifest last', async () => {
    // Prepare
    const { uploads } = prepareHost();
    // Act
    const result = await runBackup(spec({ ...FULL, paths: [{ name: 'uploads', path: uploads }] }));
    // Assess
    expect(result.errors).toEqual([]);
    expect(result.complete).toBe(true);
    expect(result.prefix).toMatch(new RegExp(`^backups/web/${hostInstance}/\\d{8}T\\d{6}Z$`));
    expect(result.archives.map((a) => [a.name, a.kind, a.ok, a.integrity])).toEqual([
      ['app-db', 'sqlite', true, 'ok'], ['app_certs', 'volume', true, null], ['uploads', 'path', true, null],
    ]);
    expect(await keys(result.prefix)).toEqual([...result.archives.map((a) => a.key), result.manifestKey].sort());
    for (const a of result.archives) {
      const body = await getObject(a.key);
      expect(body.length).toBe(a.bytes);
      expect(createHash('sha256').update(body).digest('hex')).toBe(a.sha256);
    }
    // The manifest is the last object written.
    const listed = (await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: result.prefix }))).Contents ?? [];
    const manifestAt = listed.find((o) => o.Key === result.manifestKey)!.LastModified!.getTime();
    for (const o of listed) expect(o.LastModified!.getTime()).toBeLessThanOrEqual(manifestAt);
    const manifest = BackupManifest.parse(JSON.parse((await getObject(result.manifestKey!)).toString()));
    expect(manifest.archives).toEqual(result.archives);
    // The database restores and is whole; excluded files stay out of the volume archive.
    const restored = join(host!.dir, 'restored.db');
    writeFileSync(restored, unpack(await getObject(result.archives[0]!.key), 'zst'));
    expect(sqlite(restored, 'PRAGMA integrity_check;')).toBe('ok');
    expect(sqlite(restored, 'SELECT COUNT(*) FROM t;')).toBe('1000');
    const listing = execFileSync('tar', ['-tf', '-'], { input: unpack(await getObject(result.archives[1]!.key), 'zst'), encoding: 'utf8' });
    expect(listing).toContain('./certs/server.pem');
    expect(listing).not.toContain('noise.log');
    // The stopped container was started again; the SQLite snapshot was removed from the container.
    expect(result.restarts).toEqual([expect.objectContaining({ container: 'worker', started: true, state: 'running' })]);
    expect(host!.calls().filter((c) => ['stop', 'start'].includes(c[0]!)).map((c) => c[0])).toEqual(['stop', 'start']);
    expect(readdirSync(join(host!.dir, 'app-root', 'tmp'))).toEqual([]);
    // The busy mark that keeps remediation away is gone once the backup ends (the lock file stays: flock files are never removed).
    expect(readdirSync(join(host!.dir, 'locks'))).toEqual(['web.lock']);
  });

  it('copies SQLite beside the other archives when nothing is stopped, and keeps the order of the spec in the result', async () => {
    // Prepare: two databases, a volume and a path, nothing to stop
    const { uploads, root } = prepareHost();
    sqlite(join(root, 'data', 'second.db'), 'CREATE TABLE s(v TEXT); INSERT INTO s VALUES (1), (2), (3);');
    const sqliteSources = [{ name: 'app-db', container: 'app', path: '/data/app.db' }, { name: 'second-db', container: 'app', path: '/data/second.db' }];
    // Act
    const result = await runBackup(spec({ ...FULL, sqlite: sqliteSources, stop: [], paths: [{ name: 'uploads', path: uploads }] }));
    // Assess
    expect(result.errors).toEqual([]);
    expect(result.archives.map((a) => [a.name, a.ok])).toEqual([['app-db', true], ['second-db', true], ['app_certs', true], ['uploads', true]]);
    const manifest = BackupManifest.parse(JSON.parse((await getObject(result.manifestKey!)).toString()));
    expect(manifest.archives).toEqual(result.archives);
    for (const a of result.archives) expect(createHash('sha256').update(await getObject(a.key)).digest('hex')).toBe(a.sha256);
    const restored = join(host!.dir, 'second.db');
    writeFileSync(restored, unpack(await getObject(result.archives[1]!.key), 'zst'));
    expect(sqlite(restored, 'SELECT group_concat(v) FROM s;')).toBe('1,2,3');
  });

  it('never writes into an earlier run\'s prefix: a run starting in a second that is taken waits it out', async () => {
    // Prepare: runs of this host already hold this second and the next two (stamps are to the second)
    const { uploads } = prepareHost();
    const instance = 'i-0000000000000abcd';
    const stampOf = (ms: number) => new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
    const now = Date.now();
    const taken = [0, 1, 2].map((i) => `backups/web/${instance}/${stampOf(now + i * 1000)}`);
    for (const t of taken) await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${t}/manifest.json`, Body: '{"earlier":true}' }));
    // Act
    const result = await runBackup(spec({ ...FULL, paths: [{ name: 'uploads', path: uploads }] }), { AWS_SSM_INSTANCE_ID: instance });
    // Assess
    expect(result.errors).toEqual([]);
    expect(result.complete).toBe(true);
    expect(taken).not.toContain(result.prefix);
    expect(result.prefix > taken[2]!).toBe(true);
    for (const t of taken) expect(await keys(`${t}/`)).toEqual([`${t}/manifest.json`]);
  });

  it('fails when another run holds the stack past the wait: nothing stopped, nothing uploaded, the holder\'s mark kept', async () => {
    // Prepare: a restore of the same stack runs on this host (common.sh's own claim, in a process that stays)
    prepareHost();
    const locks = join(host!.dir, 'locks');
    const holder = spawn('bash', ['-c', `set -euo pipefail; . "$1"; note_error() { :; }; STACK=web; LOCK_DIR="$2"; mark_busy restore; echo held; sleep 60`, 'holder', join(process.cwd(), 'lib/host-scripts/lib/common.sh'), locks], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((r) => holder.stdout!.once('data', () => r()));
    const before = await keys('backups/web/i-0000000000000b0c5/');
    // Act
    const result = await runBackup(spec(FULL), { SHIPSHAPE_STACK_LOCK_WAIT_SECONDS: '1', AWS_SSM_INSTANCE_ID: 'i-0000000000000b0c5' });
    holder.kill('SIGKILL');
    // Assess
    expect(result.complete).toBe(false);
    expect(result.errors).toEqual(['stack web is busy on this host with restore (waited 1 s): backup did nothing; run it again once that has finished']);
    expect(host!.calls().filter((c) => ['stop', 'start', 'exec'].includes(c[0]!))).toEqual([]);
    expect(await keys('backups/web/i-0000000000000b0c5/')).toEqual(before);
    expect(readFileSync(join(locks, 'web.busy'), 'utf8').trim()).toBe('restore');
  });

  it('fails when a snapshot copied beside the volumes fails: the volumes are still copied, and no manifest', async () => {
    // Prepare: nothing to stop; the second database is not a database
    const { root } = prepareHost();
    writeFileSync(join(root, 'data', 'broken.db'), 'not a database at all, just text '.repeat(100));
    // Act: a host of its own, so that no other test's run shares the prefix (stamps are per second)
    const result = await runBackup(spec({ ...FULL, sqlite: [{ name: 'app-db', container: 'app', path: '/data/app.db' }, { name: 'broken-db', container: 'app', path: '/data/broken.db' }], stop: [], paths: [] }),
      { AWS_SSM_INSTANCE_ID: 'i-0b0b0b0b0b0b0b0b1' });
    // Assess
    expect(result.complete).toBe(false);
    expect(result.manifestKey).toBeNull();
    expect(result.archives.map((a) => [a.name, a.ok])).toEqual([['app-db', true], ['broken-db', false], ['app_certs', true]]);
    expect(result.errors.join('\n')).toMatch(/broken-db: /);
    expect(await keys(result.prefix)).not.toContain(`${result.prefix}/manifest.json`);
  });

  it('resolves compose names: a service to the container compose made, a volume key to <project>_<key>', async () => {
    // Prepare: compose named the containers shop-<service>-1 and the volume shop_certs
    const { root, vol } = prepareHost();
    host!.setContainers({ ...composeContainer('shop', 'app', 1, { root, Mounts: [{ Destination: '/data', Source: join(root, 'data') }] }), ...composeContainer('shop', 'worker') });
    host!.setVolumes(composeVolume('shop', 'certs', vol));
    const fleet = parseFleet({ fleet: 'demo', stacks: [{ name: 'web', hosts: { tag: { key: 'R', value: 'w' } }, services: [{ name: 'app' }], backup: { sqlite: [{ name: 'db', container: 'app', path: '/data/app.db' }], volumes: [{ name: 'certs' }], stop: ['worker'] } }] });
    // Act
    const result = await runBackup(specFile({ compose: [['project', 'shop', '-']], backup: backupSpecLines(fleet.stacks[0]!.backup!) }));
    // Assess
    expect(result.errors).toEqual([]);
    expect(result.complete).toBe(true);
    expect(result.archives.map((a) => [a.name, a.source, a.ok])).toEqual([['db', 'shop-app-1:/data/app.db', true], ['certs', 'volume shop_certs', true]]);
    expect(host!.calls().filter((c) => c[0] === 'stop').map((c) => c.at(-1))).toEqual(['shop-worker-1']);
  });

  it('fails when a compose name resolves to nothing, saying what it looked for and what exists', async () => {
    // Prepare
    prepareHost();
    host!.setContainers(composeContainer('shop', 'app'));
    // Act
    const result = await runBackup(specFile({ compose: [['project', 'shop', '-']], backup: [['conf', 'zstd', 3, 10], ['postgres', 'pg', 'db', 'app', 'postgres']] }));
    // Assess
    expect(result.complete).toBe(false);
    expect(result.errors.join('\n')).toMatch(/no container for 'db': looked for compose service 'db' of project 'shop'.*found services of project 'shop': app/);
  });

  it('copies a database that is being written to, consistently', async () => {
    // Prepare: a writer commits batches of exactly 100 rows while the backup runs
    const { db } = prepareHost();
    const writer = spawn('bash', ['-c', `for i in $(seq 1 400); do sqlite3 "${db}" ".timeout 5000" "BEGIN IMMEDIATE; WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM s WHERE i < 100) INSERT INTO t(v) SELECT hex(randomblob(64)) FROM s; COMMIT;"; done`], { detached: true });
    const ended = new Promise((resolve) => writer.on('close', resolve));
    try {
      // Act
      const result = await runBackup(spec({ sqlite: [{ name: 'app-db', container: 'app', path: '/data/app.db' }] }));
      // Assess
      expect(result.errors).toEqual([]);
      const restored = join(host!.dir, 'live.db');
      writeFileSync(restored, unpack(await getObject(result.archives[0]!.key), 'zst'));
      expect(sqlite(restored, 'PRAGMA integrity_check;')).toBe('ok');
      expect(Number(sqlite(restored, 'SELECT COUNT(*) FROM t;')) % 100).toBe(0);
    } finally {
      // The whole group: a sqlite3 still writing would race the clean-up of the host directory.
      try { process.kill(-writer.pid!, 'SIGKILL'); } catch { /* already gone */ }
      await ended;
    }
  });

  it('uses gzip when asked', async () => {
    prepareHost();
    const result = await runBackup(spec({ volumes: [{ name: 'app_certs' }], compression: 'gzip' }));
    expect(result.archives[0]!.key).toMatch(/app_certs\.tar\.gz$/);
    expect(execFileSync('tar', ['-tf', '-'], { input: unpack(await getObject(result.archives[0]!.key), 'gz'), encoding: 'utf8' })).toContain('./certs/server.pem');
  });

  it('copies with sqlite3 inside the container when asked (runIn: container), the time limit enforced there', async () => {
    // Prepare
    prepareHost();
    // Act
    const result = await runBackup(spec({ sqlite: [{ name: 'app-db', container: 'app', path: '/data/app.db', runIn: 'container' }] }));
    // Assess
    expect(result.errors).toEqual([]);
    expect(result.archives[0]).toMatchObject({ ok: true, method: 'sqlite3 VACUUM INTO (container)', integrity: 'ok' });
    expect(host!.calls().filter((c) => c[0] === 'exec').map((c) => c.slice(2, 5))).toContainEqual(['timeout', '600', 'sqlite3']);
    expect(readdirSync(join(host!.dir, 'app-root', 'tmp'))).toEqual([]);
  });

  it('fails when the database is in the container\'s writable layer and runIn is host, naming it', async () => {
    // Prepare: no mount holds /data
    prepareHost();
    const c = host!.containers();
    delete c.app!.Mounts;
    host!.setContainers(c);
    // Act
    const result = await runBackup(spec({ sqlite: [{ name: 'app-db', container: 'app', path: '/data/app.db' }] }));
    // Assess
    expect(result.complete).toBe(false);
    expect(result.errors[0]).toMatch(/app-db: \/data\/app.db is in the writable layer of app/);
  });

  it('fails when the snapshot times out, saying after how long, and writes no manifest', async () => {
    // Prepare: a writer holds the write lock longer than the busy timeout and the time limit
    const { db } = prepareHost();
    const holder = spawn('sqlite3', [db], { stdio: ['pipe', 'ignore', 'ignore'] });
    holder.stdin.write('PRAGMA journal_mode=DELETE;\nBEGIN EXCLUSIVE;\nINSERT INTO t(v) VALUES (1);\n');
    await new Promise((r) => setTimeout(r, 300));
    try {
      // Act
      const result = await runBackup(spec({ sqlite: [{ name: 'app-db', container: 'app', path: '/data/app.db' }] }), { SHIPSHAPE_SQLITE_TIMEOUT_SECONDS: '1', SHIPSHAPE_SQLITE_BUSY_MS: '5000' });
      // Assess
      expect(result.complete).toBe(false);
      expect(result.errors[0]).toMatch(/app-db: VACUUM INTO failed: (timed out after 1 s|database locked)/);
    } finally {
      holder.kill();
    }
  });

  it('fails when the database is corrupt: no archive of it and no manifest', async () => {
    const { db } = prepareHost();
    const bytes = readFileSync(db);
    bytes.fill(0x41, 4096, 8192);
    writeFileSync(db, bytes);
    rmSync(`${db}-wal`, { force: true });
    const result = await runBackup(spec({ sqlite: [{ name: 'app-db', container: 'app', path: '/data/app.db' }], volumes: [{ name: 'app_certs' }] }));
    expect(result.complete).toBe(false);
    expect(result.manifestKey).toBeNull();
    expect(result.errors.join('\n')).toMatch(/app-db: (the snapshot fails integrity_check|VACUUM INTO failed)/);
    expect(result.archives.map((a) => [a.name, a.ok])).toEqual([['app-db', false], ['app_certs', true]]);
  });

  it('fails when the snapshot cannot be written (as with a full disk), and leaves the database alone', async () => {
    const { root, db } = prepareHost();
    rmSync(join(root, 'tmp'), { recursive: true });
    writeFileSync(join(root, 'tmp'), 'not a directory');
    const before = sqlite(db, 'SELECT COUNT(*) FROM t;');
    const result = await runBackup(spec({ sqlite: [{ name: 'app-db', container: 'app', path: '/data/app.db', runIn: 'container' }] }));
    expect(result.complete).toBe(false);
    expect(result.errors[0]).toMatch(/app-db: VACUUM INTO in app failed/);
    expect(sqlite(db, 'SELECT COUNT(*) FROM t;')).toBe(before);
  });

  it('starts stopped containers again even when the backup step fails', async () => {
    prepareHost();
    const result = await runBackup(spec({ volumes: [{ name: 'missing-volume' }], stop: ['worker', 'app'] }));
    expect(result.complete).toBe(false);
    expect(result.errors[0]).toMatch(/missing-volume: docker volume missing-volume does not exist/);
    expect(result.leftStopped).toEqual([]);
    // Stopped in reverse order, started in config order, all running again.
    expect(host!.calls().filter((c) => ['stop', 'start'].includes(c[0]!)).map((c) => `${c[0]} ${c[c.length - 1]}`)).toEqual(['stop app', 'stop worker', 'start worker', 'start app']);
    expect(Object.values(host!.containers()).every((c) => c.State.Status === 'running')).toBe(true);
    expect(result.restarts.map((r) => [r.container, r.started])).toEqual([['worker', true], ['app', true]]);
  });

  it('copies nothing from a container that would not stop, and says so', async () => {
    prepareHost({ stubborn: { stopFails: true } });
    const result = await runBackup(spec({ volumes: [{ name: 'app_certs' }], stop: ['stubborn'] }));
    expect(result.errors[0]).toMatch(/container stubborn would not stop/);
    expect(result.archives.filter((a) => a.ok)).toEqual([]);
    expect(result.manifestKey).toBeNull();
  });

  it('fails clearly when the upload fails, and writes no manifest', async () => {
    prepareHost();
    const result = await runBackup(spec({ volumes: [{ name: 'app_certs' }] }), { SHIPSHAPE_S3_ENDPOINT: 'http://127.0.0.1:9' });
    expect(result.archives[0]).toMatchObject({ ok: false, error: expect.stringMatching(/^upload failed/) });
    expect(result.complete).toBe(false);
  });

  it('uploads large archives in parts, and the object in S3 matches the checksum and size the host computed', async () => {
    // Prepare
    const { vol } = prepareHost();
    writeFileSync(join(vol, 'big.bin'), randomBytes(24 * 1024 * 1024));
    // Act: 5 MiB parts (read with dd in 64 KiB blocks); the host hashes and counts them as it uploads them
    const result = await runBackup(spec({ volumes: [{ name: 'app_certs' }], compression: 'gzip', level: 1 }), { SHIPSHAPE_S3_PART_BYTES: String(5 * 1024 * 1024) });
    // Assess
    expect(result.errors).toEqual([]);
    const body = await getObject(result.archives[0]!.key);
    expect(body.length).toBeGreaterThan(16 * 1024 * 1024);
    expect(result.archives[0]!.bytes).toBe(body.length);
    // S3's composite: the SHA-256 of the 5 MiB parts' SHA-256 digests, then the layout
    const part = 5 * 1024 * 1024;
    const digests = Array.from({ length: Math.ceil(body.length / part) }, (_, i) => createHash('sha256').update(body.subarray(i * part, (i + 1) * part)).digest());
    expect(result.archives[0]!.sha256).toBe(`${createHash('sha256').update(Buffer.concat(digests)).digest('hex')}-${part}x${digests.length}`);
  });

  it('reports an upload cut off half way as failed and writes no manifest', async () => {
    // Prepare: an "S3 endpoint" that drops every connection after 256 KiB
    const { vol } = prepareHost();
    writeFileSync(join(vol, 'big.bin'), randomBytes(4 * 1024 * 1024));
    const cutter = createServer((sock) => {
      let seen = 0;
      sock.on('data', (d) => { seen += d.length; if (seen > 256 * 1024) sock.destroy(); });
    });
    await new Promise<void>((r) => cutter.listen(0, '127.0.0.1', r));
    try {
      // Act
      const result = await runBackup(spec({ volumes: [{ name: 'app_certs' }] }), {
        SHIPSHAPE_S3_ENDPOINT: `http://127.0.0.1:${(cutter.address() as AddressInfo).port}`, AWS_MAX_ATTEMPTS: '2', AWS_RETRY_MODE: 'standard',
        // The cutter never answers a listing: the run-prefix check gives up after this, not 30 s.
        SHIPSHAPE_S3_SHORT_TIMEOUT_SECONDS: '2', SHIPSHAPE_S3_RETRY_DELAY_SECONDS: '1',
      });
      // Assess
      expect(result.archives[0]).toMatchObject({ ok: false, error: expect.stringMatching(/^upload failed/) });
      expect(result.complete).toBe(false);
      expect(result.manifestKey).toBeNull();
    } finally {
      cutter.close();
    }
  });

  it('stops before anything when a pre hook fails, and still runs the post hooks', async () => {
    prepareHost({ hooker: { commands: { flush: { exit: 3, stderr: 'flush refused' }, resume: { exit: 0 } } } });
    const result = await runBackup(spec({ volumes: [{ name: 'app_certs' }], hooks: { pre: [{ container: 'hooker', command: ['flush', '--all'] }], post: [{ container: 'hooker', command: ['resume'] }] } }));
    expect(result.errors[0]).toMatch(/pre hook in hooker failed: flush refused/);
    expect(result.archives).toEqual([]);
    expect(host!.calls().filter((c) => c[0] === 'exec').map((c) => c.slice(1))).toEqual([['hooker', 'flush', '--all'], ['hooker', 'resume']]);
  });

  it('reports a container without sqlite3 instead of failing silently', async () => {
    prepareHost();
    const c = host!.containers();
    delete c.app!.root;
    host!.setContainers(c);
    const result = await runBackup(spec({ sqlite: [{ name: 'app-db', container: 'app', path: '/data/app.db', runIn: 'container' }] }));
    expect(result.errors[0]).toMatch(/sqlite3 \(or timeout\) is not available in app/);
  });

  it('leaves a container on the stop list stopped when it was stopped before, and reports one it had to kill', async () => {
    // Prepare: "paused-job" was stopped on purpose; "stubborn" ignores SIGTERM
    prepareHost({ stubborn: { ignoresSigterm: true } });
    const c = host!.containers();
    c.worker!.State = { Status: 'exited' };
    host!.setContainers(c);
    // Act
    const result = await runBackup(spec({ volumes: [{ name: 'app_certs' }], stop: ['worker', 'stubborn'], stopTimeoutSeconds: 7 }));
    // Assess
    expect(result.errors).toEqual([]);
    expect(result.leftStopped).toEqual(['worker']);
    expect(result.restarts).toEqual([expect.objectContaining({ container: 'stubborn', started: true, killed: true })]);
    expect(host!.calls().filter((call) => ['stop', 'start'].includes(call[0]!))).toEqual([['stop', '-t', '7', 'stubborn'], ['start', 'stubborn']]);
    expect(host!.containers().worker!.State.Status).toBe('exited');
  });

  it('fails when the temporary directory is full: no bytes or checksum means no archive and no manifest', async () => {
    // Prepare: TMPDIR on a 64 KiB tmpfs, already full; a host of its own (stamps are per second: no other run's prefix)
    prepareHost();
    const full = join(host!.dir, 'full');
    mkdirSync(full);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', full]);
    try {
      execFileSync('sh', ['-c', `mkdir "${full}/keep" && dd if=/dev/zero of="${full}/fill" bs=4k 2>/dev/null || true`]);
      // Act
      const result = await runBackup(spec({ volumes: [{ name: 'app_certs' }] }), { TMPDIR: full, AWS_SSM_INSTANCE_ID: 'i-0b0b0b0b0b0b0b0b2' });
      // Assess
      expect(result.complete).toBe(false);
      expect(result.manifestKey).toBeNull();
      expect(result.errors.join('\n')).toMatch(/full|temporary directory/);
      expect(await keys(result.prefix)).not.toContain(`${result.prefix}/manifest.json`);
    } finally {
      execFileSync('umount', ['-l', full]);
    }
  });
});

/** Every entry under dir: "d <mode>" for directories, "f <mode> <sha256>" for files. */
function tree(dir: string, rel = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    const mode = (statSync(join(dir, p)).mode & 0o7777).toString(8);
    if (e.isDirectory()) Object.assign(out, { [p]: `d ${mode}` }, tree(dir, p));
    else out[p] = `f ${mode} ${createHash('sha256').update(readFileSync(join(dir, p))).digest('hex')}`;
  }
  return out;
}
/** Run stamps have one-second resolution: the next run starts in the next second. */
const nextSecond = () => new Promise((r) => setTimeout(r, 1010 - (Date.now() % 1000)));
const markVerified = (r: BackupResult) => s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${r.prefix}/verified.json`, Body: '{}' }));
const listing = async (key: string) => execFileSync('tar', ['-tf', '-'], { input: unpack(await getObject(key), 'zst'), encoding: 'utf8' }).split('\n').filter(Boolean).sort();

/** A volume of 40 files of 32 KiB of random bytes, in two directories, one of them private. */
function volumeHost() {
  const { vol } = prepareHost();
  mkdirSync(join(vol, 'a'));
  mkdirSync(join(vol, 'b'), { mode: 0o700 });
  for (let i = 0; i < 40; i++) writeFileSync(join(vol, i % 2 ? 'a' : 'b', `f${i}.bin`), randomBytes(32 * 1024), { mode: 0o640 });
  return vol;
}

describe('backup.sh differentials (tar --listed-incremental against the newest full)', () => {
  const VOL = (extra: Partial<BackupInput> = {}): string => spec({ volumes: [{ name: 'app_certs' }], sqlite: [{ name: 'app-db', container: 'app', path: '/data/app.db' }], ...extra });

  it('makes a full first, then a differential of only what changed, with its base named and a depends-on marker before the manifest', async () => {
    // Prepare
    const vol = volumeHost();
    const specPath = VOL();
    const full = await runBackup(specPath);
    await markVerified(full);
    writeFileSync(join(vol, 'a', 'f1.bin'), randomBytes(1000));
    appendFileSync(join(vol, 'b', 'f2.bin'), 'more');
    writeFileSync(join(vol, 'a', 'new.txt'), 'new');
    await nextSecond();
    // Act
    const diff = await runBackup(specPath);
    // Assess
    expect(full.errors).toEqual([]);
    expect(diff.errors).toEqual([]);
    expect(full.archives.map((a) => [a.name, a.level, a.baseKey, a.baseSha256])).toEqual([['app-db', 0, null, null], ['app_certs', 0, null, null]]);
    const [fullVol, diffVol] = [full.archives[1]!, diff.archives[1]!];
    expect(diff.archives.map((a) => [a.name, a.level])).toEqual([['app-db', 0], ['app_certs', 1]]);
    expect(diffVol).toMatchObject({ baseKey: fullVol.key, baseSha256: fullVol.sha256 });
    // Only the changed and new files (and the directories, which carry the listing) are in it.
    expect((await listing(diffVol.key)).filter((e) => !e.endsWith('/'))).toEqual(['./a/f1.bin', './a/new.txt', './b/f2.bin']);
    expect((await listing(fullVol.key)).length).toBeGreaterThan(40);
    expect(diffVol.bytes!).toBeLessThan(fullVol.bytes! / 10);
    const marker = `${diff.prefix}/depends-on/${full.prefix.split('/').at(-1)}`;
    expect(await keys(diff.prefix)).toEqual([...diff.archives.map((a) => a.key), marker, diff.manifestKey!].sort());
    const listed = (await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: diff.prefix }))).Contents ?? [];
    expect(listed.find((o) => o.Key === marker)!.LastModified!.getTime()).toBeLessThanOrEqual(listed.find((o) => o.Key === diff.manifestKey)!.LastModified!.getTime());
    expect(BackupManifest.parse(JSON.parse((await getObject(diff.manifestKey!)).toString())).archives).toEqual(diff.archives);
  });

  it('restores the volume exactly from the full and the differential (deleted file gone, new file there, modes kept)', async () => {
    // Prepare
    const vol = volumeHost();
    const specPath = VOL();
    const full = await runBackup(specPath);
    await markVerified(full);
    rmSync(join(vol, 'a', 'f3.bin'));
    writeFileSync(join(vol, 'b', 'created.txt'), 'created after the full', { mode: 0o600 });
    writeFileSync(join(vol, 'b', 'f4.bin'), randomBytes(500));
    chmodSync(join(vol, 'a', 'f5.bin'), 0o755);
    mkdirSync(join(vol, 'c'));
    writeFileSync(join(vol, 'c', 'deep.txt'), 'deep');
    await nextSecond();
    const diff = await runBackup(specPath);
    expect(diff.archives[1]!.level).toBe(1);
    // Act: extract the full, then the differential, as restore does
    const out = join(host!.dir, 'restored');
    mkdirSync(out);
    for (const a of [full.archives[1]!, diff.archives[1]!]) {
      execFileSync('tar', ['--listed-incremental=/dev/null', '--numeric-owner', '-C', out, '-xf', '-'], { input: unpack(await getObject(a.key), 'zst') });
    }
    // Assess
    const restored = tree(out);
    expect(restored['a/f3.bin']).toBeUndefined();
    expect(restored['b/created.txt']).toMatch(/^f 600 /);
    expect(restored['a/f5.bin']).toMatch(/^f 755 /);
    expect(restored).toEqual(tree(vol));
  });

  it('makes a full every fullEvery runs, and every run with fullEvery 1', async () => {
    // Prepare
    const vol = volumeHost();
    const levels: (number | undefined)[] = [];
    // Act: fullEvery 3, four runs, each verified; then fullEvery 1
    for (let i = 0; i < 4; i++) {
      const r = await runBackup(VOL({ fullEvery: 3 }));
      levels.push(r.archives[1]!.level);
      await markVerified(r);
      writeFileSync(join(vol, 'a', `run${i}.txt`), String(i));
      await nextSecond();
    }
    const every = await runBackup(VOL({ fullEvery: 1 }));
    // Assess
    expect(levels).toEqual([0, 1, 1, 0]);
    expect(every.archives[1]!.level).toBe(0);
  });

  it('makes a full when the excludes change', async () => {
    // Prepare
    volumeHost();
    const first = await runBackup(VOL());
    await markVerified(first);
    await nextSecond();
    // Act
    const second = await runBackup(VOL({ exclude: ['*.log'] }));
    // Assess
    expect(second.archives[1]).toMatchObject({ ok: true, level: 0, baseKey: null });
    expect(await listing(second.archives[1]!.key)).not.toContain('./noise.log');
    expect(await keys(`${second.prefix}/depends-on/`)).toEqual([]);
  });

  it('makes a full when the full is not verified, or the last differential was over half of it', async () => {
    // Prepare
    const vol = volumeHost();
    const unverified = await runBackup(VOL());
    await nextSecond();
    // Act: the full is not verified
    const second = await runBackup(VOL());
    await markVerified(second);
    await nextSecond();
    // Act: more than half of the volume rewritten, then the next run
    for (let i = 0; i < 30; i++) writeFileSync(join(vol, i % 2 ? 'a' : 'b', `f${i}.bin`), randomBytes(32 * 1024));
    const big = await runBackup(VOL());
    await markVerified(big);
    await nextSecond();
    const after = await runBackup(VOL());
    // Assess
    expect([unverified, second, big, after].map((r) => r.archives[1]!.level)).toEqual([0, 0, 1, 0]);
    expect(big.archives[1]!.baseKey).toBe(second.archives[1]!.key);
  });

  it('fails when the upload fails without moving the base: the next run is a differential on the same full, with the change', async () => {
    // Prepare
    const vol = volumeHost();
    const full = await runBackup(VOL());
    await markVerified(full);
    writeFileSync(join(vol, 'a', 'changed.txt'), 'changed');
    await nextSecond();
    // Act: a run whose upload fails, then a good one
    const failed = await runBackup(VOL(), { SHIPSHAPE_S3_ENDPOINT: 'http://127.0.0.1:9' });
    await nextSecond();
    const next = await runBackup(VOL());
    // Assess
    expect(failed.complete).toBe(false);
    expect(next.errors).toEqual([]);
    expect(next.archives[1]).toMatchObject({ level: 1, baseKey: full.archives[1]!.key });
    expect(await listing(next.archives[1]!.key)).toContain('./a/changed.txt');
    // The state still counts one differential since the full (the failed run did not count).
    expect(readFileSync(join(host!.dir, 'state', 'web', 'backup', 'app_certs', 'state'), 'utf8')).toMatch(/^since\t1$/m);
  });
});
