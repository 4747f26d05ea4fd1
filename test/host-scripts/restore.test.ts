/**
 * restore.sh for real against s3rver: round trip after a real backup.sh run, refusal of a
 * damaged archive before anything changes, and rollback to the safety backup when the
 * restore fails half way.
 */
import { specFile } from '../support/spec-file.js';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseFleet } from '../../lib/config/load.js';
import { BackupResult } from '../../lib/results/backup.js';
import { RestoreResult } from '../../lib/results/restore.js';
import { backupSpecLines } from '../../lib/runbooks/backup.js';
import { startS3 } from '../support/aws-local.js';
import { FakeHost, running } from '../support/fake-host.js';
import { runHostScript } from '../support/run-script.js';
import { composeContainer, composeVolume } from '../support/compose.js';

const BUCKET = 'restore-bucket';
let s3: Awaited<ReturnType<typeof startS3>>;
let awsBin: string;
let host: FakeHost;
let paths: { root: string; db: string; vol: string; uploads: string };
let specPath: string;
let n = 0;

beforeAll(async () => {
  s3 = await startS3([BUCKET]);
  awsBin = mkdtempSync(join(tmpdir(), 'aws-bin-'));
  symlinkSync('/usr/bin/aws', join(awsBin, 'aws'));
});
afterAll(() => s3.stop());
afterEach(() => host?.dispose());

const sqlite = (db: string, sql: string) => execFileSync('sqlite3', [db, sql], { encoding: 'utf8' }).trim();
/** Every file under a directory with its SHA-256, for byte-for-byte comparisons. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name), `${rel}${e.name}/`);
      else out[`${rel}${e.name}`] = createHash('sha256').update(readFileSync(join(d, e.name))).digest('hex');
    }
  };
  walk(dir, '');
  return out;
}

function prepare() {
  host = new FakeHost();
  const root = join(host.dir, 'root');
  mkdirSync(join(root, 'data'), { recursive: true });
  mkdirSync(join(root, 'tmp'));
  const db = join(root, 'data', 'app.db');
  sqlite(db, "PRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM s WHERE i < 1000) INSERT INTO t(v) SELECT hex(randomblob(16)) FROM s;");
  const vol = join(host.dir, 'vol');
  mkdirSync(join(vol, 'sub'), { recursive: true });
  writeFileSync(join(vol, 'sub', 'a.txt'), 'alpha');
  writeFileSync(join(vol, 'b.bin'), createHash('sha512').update('b').digest());
  const uploads = join(host.dir, 'uploads');
  mkdirSync(uploads);
  writeFileSync(join(uploads, 'u1'), 'upload one');
  host.setContainers({
    app: running({ root, Mounts: [{ Destination: '/data', Source: join(root, 'data') }, { Destination: '/certs', Source: vol, Name: 'certs' }] }),
    other: running(),
  });
  host.setVolumes({ certs: vol });
  paths = { root, db, vol, uploads };
  const fleet = parseFleet({ fleet: 'demo', stacks: [{ name: 'web', hosts: { tag: { key: 'R', value: 'w' } }, services: [{ name: 'app', container: 'app' }],
    backup: { sqlite: [{ name: 'app-db', container: 'app', path: '/data/app.db' }], volumes: [{ name: 'certs' }], paths: [{ name: 'uploads', path: uploads }] } }] });
  specPath = specFile({ backup: backupSpecLines(fleet.stacks[0]!.backup!) });
}

function env(extra: Record<string, string> = {}) {
  return host.env({
    PATH: `${awsBin}:${host.env().PATH}`, SHIPSHAPE_STACK: 'web', SHIPSHAPE_RUN_ID: `run-${++n}`, SHIPSHAPE_SPEC_FILE: specPath, SHIPSHAPE_BUCKET: BUCKET,
    SHIPSHAPE_S3_ENDPOINT: s3.endpoint, SHIPSHAPE_HEALTH_WAIT_SECONDS: '1', AWS_SSM_INSTANCE_ID: `i-0000000000000000${n % 10}`,
    AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_DEFAULT_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true', HOME: host.dir, ...extra,
  });
}
const put = (Key: string, Body: string | Buffer) => s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body }));

async function backupNow(instance: string): Promise<BackupResult> {
  const run = await runHostScript('backup.sh', env({ AWS_SSM_INSTANCE_ID: instance }), 120_000);
  const r = BackupResult.parse(run.json);
  expect(r.errors).toEqual([]);
  await put(r.manifestKey!.replace('manifest.json', 'verified.json'), '{}');
  return r;
}
async function restore(instance: string, extra: Record<string, string> = {}): Promise<RestoreResult> {
  const run = await runHostScript('restore.sh', env({ AWS_SSM_INSTANCE_ID: instance, ...extra }), 180_000);
  expect(run.status, run.stderr).toBe(0);
  const parsed = RestoreResult.safeParse(run.json);
  expect(parsed.success, `${run.stdout}\n${run.stderr}`).toBe(true);
  return parsed.data!;
}

describe('restore.sh', () => {
  it('round-trips: data changed after a backup comes back byte for byte, the old data renamed aside and removed after the success', async () => {
    // Prepare
    prepare();
    const instance = 'i-00000000000000a1';
    const backup = await backupNow(instance);
    const callsBefore = host.calls().length;
    const before = { vol: tree(paths.vol), uploads: tree(paths.uploads) };
    rmSync(join(paths.vol, 'sub'), { recursive: true });
    writeFileSync(join(paths.vol, 'intruder'), 'x');
    writeFileSync(join(paths.uploads, 'u1'), 'changed');
    sqlite(paths.db, 'DELETE FROM t WHERE id > 10;');
    // Act
    const result = await restore(instance);
    // Assess
    expect(result.errors).toEqual([]);
    expect(result).toMatchObject({ ok: true, from: backup.prefix, rolledBack: null });
    expect(result.sources.map((s) => [s.name, s.ok])).toEqual([['app-db', true], ['certs', true], ['uploads', true]]);
    expect(tree(paths.vol)).toEqual(before.vol);
    expect(tree(paths.uploads)).toEqual(before.uploads);
    expect(sqlite(paths.db, 'PRAGMA integrity_check;')).toBe('ok');
    expect(sqlite(paths.db, 'SELECT COUNT(*) FROM t;')).toBe('1000');
    // The data was set aside by renames on the host (no upload) and removed after the success.
    expect(result.safetyPrefix).toBeNull();
    expect(result.sources.map((s) => [s.name, s.safetyNet, s.aside])).toEqual([['app-db', 'rename', null], ['certs', 'rename', null], ['uploads', 'rename', null]]);
    expect(readdirSync(host.dir).filter((f) => f.includes('shipshape-'))).toEqual([]);
    expect(readdirSync(join(paths.root, 'data')).filter((f) => f.includes('shipshape-'))).toEqual([]);
    expect(host.containers().app!.State.Status).toBe('running');
    expect(host.calls().filter((c) => ['stop', 'start'].includes(c[0]!)).map((c) => `${c[0]} ${c[c.length - 1]}`)).toEqual(['stop app', 'start app']);
    // Without a compose project the volume is its name: one docker call, for its mount point.
    expect(host.calls().slice(callsBefore).filter((c) => c[0] === 'volume')).toEqual([['volume', 'inspect', '--format', '{{.Mountpoint}}', 'certs']]);
  });

  it('round-trips compose names: the archive keeps the volume key, the data goes back into <project>_<key>', async () => {
    // Prepare: compose named the container shop-app-1 and the volume shop_certs
    prepare();
    host.setContainers({ ...composeContainer('shop', 'app', 1, { root: paths.root, Mounts: [{ Destination: '/data', Source: join(paths.root, 'data') }, { Destination: '/certs', Source: paths.vol, Name: 'shop_certs' }] }) });
    host.setVolumes(composeVolume('shop', 'certs', paths.vol));
    const fleet = parseFleet({ fleet: 'demo', stacks: [{ name: 'web', hosts: { tag: { key: 'R', value: 'w' } }, services: [{ name: 'app' }],
      backup: { sqlite: [{ name: 'app-db', container: 'app', path: '/data/app.db' }], volumes: [{ name: 'certs' }] } }] });
    specPath = specFile({ compose: [['project', 'shop', '-']], backup: backupSpecLines(fleet.stacks[0]!.backup!) });
    const instance = 'i-00000000000000c1';
    const backup = await backupNow(instance);
    const before = tree(paths.vol);
    writeFileSync(join(paths.vol, 'intruder'), 'x');
    // Act
    const result = await restore(instance);
    // Assess
    expect(backup.archives.map((a) => a.name)).toEqual(['app-db', 'certs']);
    expect(result.errors).toEqual([]);
    expect(result.ok).toBe(true);
    expect(tree(paths.vol)).toEqual(before);
  });

  it('restores only the sources asked for', async () => {
    prepare();
    const instance = 'i-00000000000000a2';
    await backupNow(instance);
    writeFileSync(join(paths.uploads, 'u1'), 'changed');
    sqlite(paths.db, 'DELETE FROM t;');
    const result = await restore(instance, { SHIPSHAPE_SOURCES: 'uploads' });
    expect(result.sources.map((s) => s.name)).toEqual(['uploads']);
    expect(readFileSync(join(paths.uploads, 'u1'), 'utf8')).toBe('upload one');
    expect(sqlite(paths.db, 'SELECT COUNT(*) FROM t;')).toBe('0');
  });

  it('uploads a safety backup of the state before the restore only when UploadPreRestoreBackup is true', async () => {
    // Prepare
    prepare();
    const instance = 'i-00000000000000c3';
    await backupNow(instance);
    writeFileSync(join(paths.uploads, 'u1'), 'changed');
    // Act
    const result = await restore(instance, { SHIPSHAPE_UPLOAD_PRE_RESTORE_BACKUP: 'true' });
    // Assess: the safety backup holds the state just before the restore
    expect(result.errors).toEqual([]);
    expect(result.safetyPrefix).toMatch(new RegExp(`^backups/web/${instance}/`));
    const safety = await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${result.safetyPrefix}/` }));
    expect((safety.Contents ?? []).map((c) => c.Key!.split('/').pop()).sort()).toEqual(['app-db.db.zst', 'certs.tar.zst', 'manifest.json', 'uploads.tar.zst']);
    const uploads = await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${result.safetyPrefix}/uploads.tar.zst` }));
    const listing = execFileSync('tar', ['-xOf', '-', './u1'], { input: execFileSync('zstd', ['-dc'], { input: Buffer.from(await uploads.Body!.transformToByteArray()) }) }).toString();
    expect(listing).toBe('changed');
    expect(readFileSync(join(paths.uploads, 'u1'), 'utf8')).toBe('upload one');
  });

  it('fails when UploadPreRestoreBackup is neither true nor false, before changing anything', async () => {
    prepare();
    const result = await restore('i-00000000000000b4', { SHIPSHAPE_UPLOAD_PRE_RESTORE_BACKUP: 'yes' });
    expect(result.ok).toBe(false);
    expect(result.errors).toEqual(['SHIPSHAPE_UPLOAD_PRE_RESTORE_BACKUP must be true or false']);
  });

  it('refuses an archive whose checksum does not match, before changing anything', async () => {
    prepare();
    const instance = 'i-00000000000000a3';
    const backup = await backupNow(instance);
    await put(backup.archives[1]!.key, 'tampered');
    writeFileSync(join(paths.vol, 'newer'), 'keep me');
    const result = await restore(instance);
    expect(result.ok).toBe(false);
    expect(result.errors[0]).toMatch(/certs: .* does not match its checksum .*; nothing was changed/);
    expect(result.safetyPrefix).toBeNull();
    expect(readFileSync(join(paths.vol, 'newer'), 'utf8')).toBe('keep me');
    expect(host.calls().some((c) => c[0] === 'stop')).toBe(false);
  });

  it.each([
    ['64 KiB parts, each read with dd', 64 * 1024],
    ['parts of 50,000 bytes, each read with head', 50_000],
  ])('round-trips archives uploaded in %s: each part is checked at its own boundaries', async (_name, partBytes) => {
    // Prepare: archives of several parts, recorded with S3's composite SHA-256 and their layout
    prepare();
    writeFileSync(join(paths.vol, 'big.bin'), randomBytes(300 * 1024));
    const instance = partBytes === 50_000 ? 'i-00000000000000d2' : 'i-00000000000000d1';
    const parts = { SHIPSHAPE_S3_PART_BYTES: String(partBytes) };
    const backup = await runHostScript('backup.sh', env({ AWS_SSM_INSTANCE_ID: instance, ...parts }), 120_000).then((r) => BackupResult.parse(r.json));
    expect(backup.errors).toEqual([]);
    await put(backup.manifestKey!.replace('manifest.json', 'verified.json'), '{}');
    const certs = backup.archives.find((a) => a.name === 'certs')!;
    expect(certs.sha256).toMatch(new RegExp(`^[0-9a-f]{64}-${partBytes}x[2-9]$`));
    const before = tree(paths.vol);
    rmSync(join(paths.vol, 'big.bin'));
    sqlite(paths.db, 'DELETE FROM t WHERE id > 10;');
    // Act
    const result = await restore(instance);
    // Assess
    expect(result.errors).toEqual([]);
    expect(result.ok).toBe(true);
    expect(result.sources.find((s) => s.name === 'certs')!.sha256).toBe(certs.sha256);
    expect(tree(paths.vol)).toEqual(before);
    expect(sqlite(paths.db, 'SELECT COUNT(*) FROM t;')).toBe('1000');
  });

  it('refuses an archive in parts when one part was damaged, or when bytes were added or cut, before changing anything', async () => {
    // Prepare
    prepare();
    writeFileSync(join(paths.vol, 'big.bin'), randomBytes(300 * 1024));
    const instance = 'i-00000000000000d3';
    const backup = await runHostScript('backup.sh', env({ AWS_SSM_INSTANCE_ID: instance, SHIPSHAPE_S3_PART_BYTES: String(64 * 1024) }), 120_000).then((r) => BackupResult.parse(r.json));
    expect(backup.errors).toEqual([]);
    await put(backup.manifestKey!.replace('manifest.json', 'verified.json'), '{}');
    const certs = backup.archives.find((a) => a.name === 'certs')!;
    const original = Buffer.from(await (await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: certs.key }))).Body!.transformToByteArray());
    writeFileSync(join(paths.vol, 'newer'), 'keep me');
    const flipped = Buffer.from(original);
    flipped[64 * 1024 + 5]! ^= 1; // one bit of the second part
    for (const damaged of [flipped, Buffer.concat([original, Buffer.from('x')]), original.subarray(0, original.length - 1)]) {
      await put(certs.key, damaged);
      // Act
      const result = await restore(instance);
      // Assess
      expect(result.ok).toBe(false);
      expect(result.errors[0]).toMatch(/certs: .* does not match its checksum .*; nothing was changed/);
      expect(readFileSync(join(paths.vol, 'newer'), 'utf8')).toBe('keep me');
      expect(host.calls().some((c) => c[0] === 'stop')).toBe(false);
    }
  });

  it('fails before changing anything when a verified archive cannot be extracted: the prepared copy is removed, no container stopped', async () => {
    // Prepare: the newest verified run has an archive that matches its checksum but is not zstd
    prepare();
    const instance = 'i-00000000000000a4';
    const good = await backupNow(instance);
    const broken = good.prefix.replace(/\d{8}T\d{6}Z$/, '29991231T235959Z');
    const garbage = Buffer.from('not a zstd stream');
    const archives = good.archives.map((a) => (a.name === 'certs'
      ? { ...a, key: `${broken}/certs.tar.zst`, bytes: garbage.length, sha256: createHash('sha256').update(garbage).digest('hex') }
      : { ...a, key: a.key.replace(good.prefix, broken) }));
    for (const a of good.archives.filter((x) => x.name !== 'certs')) {
      const copy = await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: a.key }));
      await put(a.key.replace(good.prefix, broken), Buffer.from(await copy.Body!.transformToByteArray()));
    }
    await put(`${broken}/certs.tar.zst`, garbage);
    await put(`${broken}/manifest.json`, JSON.stringify({ schema: 'shipshape.backup-manifest/1', stack: 'web', host: instance, runId: 'x', startedAt: 'x', finishedAt: 'x', archives, tools: {} }));
    await put(`${broken}/verified.json`, '{}');
    writeFileSync(join(paths.vol, 'current'), 'state before the restore');
    const before = tree(paths.vol);
    // Act
    const result = await restore(instance, { SHIPSHAPE_SOURCES: 'certs' });
    // Assess
    expect(result.ok).toBe(false);
    expect(result.from).toBe(broken);
    expect(result.errors[0]).toMatch(/certs: decompressing .*certs\.tar\.zst failed \(zstd exit 1\).*; nothing was changed/);
    expect(result.rolledBack).toBeNull();
    expect(result.sources).toEqual([]);
    expect(tree(paths.vol)).toEqual(before);
    expect(readdirSync(host.dir).filter((f) => f.includes('shipshape-'))).toEqual([]);
    expect(host.calls().some((c) => c[0] === 'stop')).toBe(false);
    expect(host.containers().app!.State.Status).toBe('running');
  });

  it('backs up PostgreSQL with pg_dump -Fc and restores the same bytes through pg_restore', async () => {
    // Prepare: a database container whose pg_dump prints a known dump
    prepare();
    const dump = `PGDMP-${'x'.repeat(5000)}`;
    const received = join(host.dir, 'pg_restore.stdin');
    host.setContainers({ ...host.containers(), pg: running({ commands: { pg_dump: { stdout: dump }, pg_restore: { stdinTo: received } } }) });
    const fleet = parseFleet({ fleet: 'demo', stacks: [{ name: 'web', hosts: { tag: { key: 'R', value: 'w' } }, services: [{ name: 'app', container: 'app' }],
      backup: { postgres: [{ name: 'pg', container: 'pg', database: 'app', user: 'app_owner' }] } }] });
    specPath = specFile({ backup: backupSpecLines(fleet.stacks[0]!.backup!) });
    const instance = 'i-00000000000000a6';
    // Act
    const backup = await backupNow(instance);
    const result = await restore(instance);
    // Assess
    expect(backup.archives[0]).toMatchObject({ name: 'pg', kind: 'postgres', method: 'pg_dump -Fc', compression: 'none', bytes: dump.length });
    expect(result.errors).toEqual([]);
    expect(readFileSync(received, 'utf8')).toBe(dump);
    const execs = host.calls().filter((c) => c[0] === 'exec' && c.includes('pg')).map((c) => c.slice(1).join(' '));
    expect(execs).toContain('pg pg_dump -Fc -U app_owner -d app');
    expect(execs).toContain('-i pg pg_restore --clean --if-exists --no-owner -U app_owner -d app');
    // The database container was not stopped: pg_restore works on the live server.
    expect(host.calls().some((c) => c[0] === 'stop' && c.includes('pg'))).toBe(false);
  });

  it('reads each archive once and restores the verified bytes, even when the archive is swapped after its check', async () => {
    // Prepare: an AWS CLI (the transport this test picks) that replaces the certs archive in S3 right after downloading it
    prepare();
    const instance = 'i-00000000000000a7';
    const backup = await backupNow(instance);
    const before = tree(paths.vol);
    writeFileSync(join(paths.vol, 'intruder'), 'x');
    const certs = backup.archives.find((a) => a.name === 'certs')!.key;
    const bin = join(host.dir, 'swap-bin');
    mkdirSync(bin);
    const log = join(host.dir, 'aws.log');
    writeFileSync(join(bin, 'aws'), `#!/bin/bash
printf '%s\\n' "$*" >> "${log}"
/usr/bin/aws "$@"; rc=$?
if [[ "$*" == *"s3 cp s3://${BUCKET}/${certs} -"* ]]; then printf 'swapped' | /usr/bin/aws "\${@:1:2}" s3 cp - "s3://${BUCKET}/${certs}" >&2; fi
exit $rc
`, { mode: 0o755 });
    // Act
    const result = await restore(instance, { PATH: `${bin}:${host.env().PATH}`, SHIPSHAPE_S3_TRANSPORT: 'cli' });
    // Assess
    expect(result.errors).toEqual([]);
    expect(result.ok).toBe(true);
    expect(tree(paths.vol)).toEqual(before);
    const swapped = await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: certs }));
    expect(await swapped.Body!.transformToString()).toBe('swapped');
    const gets = readFileSync(log, 'utf8').split('\n').filter((l) => l.includes(' s3 cp s3://') && l.includes(backup.prefix));
    for (const a of backup.archives) expect(gets.filter((l) => l.includes(a.key)).length).toBe(1);
    expect(host.calls().filter((c) => c[0] === 'stop')).toEqual([['stop', '-t', '60', 'app']]);
    expect(result.restarts).toEqual([{ container: 'app', started: true, state: 'running', health: 'healthy', killed: false }]);
  });

  it('reports a container it had to kill after stopTimeoutSeconds, and leaves a stopped one stopped', async () => {
    // Prepare: app ignores SIGTERM; "other" uses the volume too but was stopped on purpose
    prepare();
    const instance = 'i-00000000000000b2';
    await backupNow(instance);
    const c = host.containers();
    c.app!.ignoresSigterm = true;
    c.other = { ...c.other!, State: { Status: 'exited' }, Mounts: [{ Destination: '/certs', Source: paths.vol, Name: 'certs' }] };
    host.setContainers(c);
    // Act
    const result = await restore(instance, { SHIPSHAPE_SOURCES: 'certs' });
    // Assess
    expect(result.errors).toEqual([]);
    expect(result.restarts).toEqual([expect.objectContaining({ container: 'app', started: true, killed: true })]);
    expect(host.containers().other!.State.Status).toBe('exited');
    expect(host.calls().some((call) => call[0] === 'start' && call.includes('other'))).toBe(false);
  });

  it('fails when the run asked for was never verified, unless AllowUnverified is true', async () => {
    // Prepare: a complete backup without verified.json
    prepare();
    const instance = 'i-00000000000000a8';
    const run = await runHostScript('backup.sh', env({ AWS_SSM_INSTANCE_ID: instance }), 120_000);
    const taken = BackupResult.parse(run.json);
    const stamp = taken.prefix.split('/').pop()!;
    writeFileSync(join(paths.uploads, 'u1'), 'changed');
    // Act
    const refused = await restore(instance, { SHIPSHAPE_TIMESTAMP: stamp });
    const allowed = await restore(instance, { SHIPSHAPE_TIMESTAMP: stamp, SHIPSHAPE_ALLOW_UNVERIFIED: 'true' });
    // Assess
    expect(refused.ok).toBe(false);
    expect(refused.errors[0]).toMatch(/was never verified, so it is not restored; .*AllowUnverified=true/);
    expect(refused.safetyPrefix).toBeNull();
    expect(allowed.errors).toEqual([]);
    expect(readFileSync(join(paths.uploads, 'u1'), 'utf8')).toBe('upload one');
  });

  it('rolls back when a service it stopped runs but is unhealthy after the restore', async () => {
    // Prepare: after any start, the app reports unhealthy
    prepare();
    const instance = 'i-00000000000000a9';
    await backupNow(instance);
    writeFileSync(join(paths.vol, 'current'), 'state before the restore');
    const before = tree(paths.vol);
    const c = host.containers();
    c.app!.healthAfterStart = 'unhealthy';
    host.setContainers(c);
    // Act
    const result = await restore(instance, { SHIPSHAPE_SOURCES: 'certs' });
    // Assess: the restore failed, the data is back to its state before the restore
    expect(result.ok).toBe(false);
    expect(result.errors[0]).toMatch(/container app runs but is unhealthy/);
    expect(result.rolledBack).not.toBeNull();
    expect(result.sources).toEqual([expect.objectContaining({ name: 'certs', ok: false, prepared: 'beside', safetyNet: 'rename', aside: null })]);
    expect(tree(paths.vol)).toEqual(before);
    expect(readdirSync(host.dir).filter((f) => f.includes('shipshape-'))).toEqual([]);
    expect(host.containers().app!.State.Status).toBe('running');
  });

  it('fails with a result when the manifest of the run cannot be read', async () => {
    // Prepare: a verified marker without a manifest
    prepare();
    const instance = 'i-00000000000000b1';
    await put(`backups/web/${instance}/20260101T000000Z/verified.json`, '{}');
    // Act
    const result = await restore(instance);
    // Assess
    expect(result.ok).toBe(false);
    expect(result.errors[0]).toMatch(/cannot read backups\/web\/i-00000000000000b1\/20260101T000000Z\/manifest.json/);
  });

  it('says so when there is no verified backup to restore', async () => {
    prepare();
    const result = await restore('i-00000000000000a5');
    expect(result.errors).toEqual(['no verified backup under backups/web/i-00000000000000a5/']);
    expect(existsSync(paths.vol)).toBe(true);
  });
});
