/**
 * restore.sh's safety net and chains, against s3rver with archives made in the test:
 *   - a differential (chain-format level 1) restores over its base: deleted files are deleted;
 *     its base must be verified and match its checksum, or nothing changes;
 *   - prepared beside, then swapped: every archive is extracted into <dir>.shipshape-restore-<runId>
 *     while the containers run; they are stopped only after every byte was verified, then the live
 *     directory is renamed aside and the prepared one into its place; the aside copy is removed only
 *     after success and renamed back on failure;
 *   - mv, mkdir and cp failing (PATH shims), a mount point (staged: copy aside, restore in place), a
 *     sibling that cannot be created (staged), a failure while preparing (nothing changed, nothing
 *     stopped), and a run killed while preparing (the next run removes its leftover and names it);
 *   - after success the copies set aside are renamed <dir>.shipshape-drop-<runId> and removed by a
 *     process that outlives the script; a later restore removes what a reboot left of them.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseFleet } from '../../lib/config/load.js';
import { RestoreResult } from '../../lib/results/restore.js';
import { backupSpecLines } from '../../lib/runbooks/backup.js';
import { startS3 } from '../support/aws-local.js';
import { FakeHost, running } from '../support/fake-host.js';
import { hostScript, runHostScript } from '../support/run-script.js';
import { specFile } from '../support/spec-file.js';

const BUCKET = 'restore-safety';
let s3: Awaited<ReturnType<typeof startS3>>;
let bin: string;
let host: FakeHost;
let n = 0;

/** PATH shims that break one step of the safety net when their variable is set. */
const SHIMS: Record<string, string> = {
  mv: 'if { [ -n "${BREAK_MV:-}" ] && [[ "$*" == *shipshape-before-* ]]; } || { [ -n "${BREAK_MV_DROP:-}" ] && [[ "$*" == *shipshape-drop-* ]]; }; then echo "mv: injected failure" >&2; exit 1; fi',
  mkdir: 'if { [ -n "${BREAK_MKDIR:-}" ] && [ "${1:-}" != -p ]; } || { [ -n "${BREAK_MKDIR_PREP:-}" ] && [[ "$*" == *shipshape-restore-* ]]; }; then echo "mkdir: injected failure" >&2; exit 1; fi',
  cp: 'if [ -n "${BREAK_CP:-}" ] && [[ "$*" == *shipshape-before-* ]]; then echo "cp: injected failure" >&2; exit 1; fi',
  mountpoint: 'if [ -n "${MOUNT_POINT:-}" ] && [ "${!#}" = "$MOUNT_POINT" ]; then exit 0; fi',
  tar: 'if [ -n "${HANG_TAR:-}" ] && [[ "$*" == *-xf* ]]; then exec sleep 300; fi\n' +
    // Extracts only once the database was checked (at most 30 s): the check must not wait for it.
    'if [ -n "${WAIT_FOR_CHECK:-}" ] && [[ "$*" == *-xf* ]]; then for _ in $(seq 300); do [ -e "$WAIT_FOR_CHECK" ] && break; sleep 0.1; done; [ -e "$WAIT_FOR_CHECK" ] || { echo "tar: no integrity_check while extracting" >&2; exit 1; }; fi',
  sqlite3: 'if [ -n "${WAIT_FOR_CHECK:-}" ] && [[ "$*" == *integrity_check* ]]; then : > "$WAIT_FOR_CHECK"; fi',
  // Removes the copies set aside only once the test releases it (at most 60 s).
  rm: 'if [ -n "${HOLD_RM:-}" ] && [[ "$*" == *shipshape-drop-* ]]; then for _ in $(seq 1200); do [ -e "$HOLD_RM" ] && break; sleep 0.05; done; fi',
};

beforeAll(async () => {
  s3 = await startS3([BUCKET]);
  bin = mkdtempSync(join(tmpdir(), 'restore-safety-bin-'));
  symlinkSync('/usr/bin/aws', join(bin, 'aws'));
  for (const [cmd, test] of Object.entries(SHIMS)) {
    const real = execFileSync('bash', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim();
    writeFileSync(join(bin, cmd), `#!/bin/bash\n${test}\nexec ${real} "$@"\n`);
    chmodSync(join(bin, cmd), 0o755);
  }
});
afterAll(async () => {
  await s3.stop();
  rmSync(bin, { recursive: true, force: true });
});
afterEach(() => host?.dispose());

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const zstd = (b: Buffer) => execFileSync('zstd', ['-q', '-c'], { input: b, maxBuffer: 1 << 26 });
/** Every file and directory under a directory: files with their SHA-256, directories with "dir". */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) { out[`${rel}${e.name}/`] = 'dir'; walk(join(d, e.name), `${rel}${e.name}/`); } else out[`${rel}${e.name}`] = sha(readFileSync(join(d, e.name)));
    }
  };
  walk(dir, '');
  return out;
}
const leftovers = () => readdirSync(host.dir).filter((f) => f.includes('shipshape-'));
const pause = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
/** What the restores left beside the data, once the copies being removed in the background are gone (at most 20 s). */
const asides = () => {
  for (let i = 0; i < 400 && leftovers().some((f) => f.includes('shipshape-drop-')); i++) pause(50);
  return leftovers();
};

interface Archive { name: string; kind: string; body: Buffer; level?: 0 | 1; base?: { key: string; sha256: string } }

/** A run in S3 as backup.sh writes it (chain-format fields appended to each archive). */
async function publish(instance: string, stamp: string, archives: Archive[], verified = true) {
  const prefix = `backups/web/${instance}/${stamp}`;
  const entries = [];
  for (const a of archives) {
    const key = `${prefix}/${a.name}.${a.kind === 'sqlite' ? 'db' : 'tar'}.zst`;
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: a.body }));
    entries.push({ name: a.name, kind: a.kind, source: a.name, method: 'tar', key, ok: true, bytes: a.body.length, sha256: sha(a.body), compression: 'zstd', integrity: null, durationMs: 1, error: null,
      level: a.level ?? 0, baseKey: a.base?.key ?? null, baseSha256: a.base?.sha256 ?? null });
  }
  await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${prefix}/manifest.json`, Body: JSON.stringify({ schema: 'shipshape.backup-manifest/1', stack: 'web', host: instance, runId: 'x', startedAt: 'x', finishedAt: 'x', archives: entries, tools: {} }) }));
  if (verified) await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${prefix}/verified.json`, Body: '{}' }));
  return Object.fromEntries(entries.map((e) => [e.name, { key: e.key, sha256: e.sha256 }]));
}

/** A host with one volume "certs" (used by the running container app) and one path "uploads". */
function prepare() {
  host = new FakeHost();
  const vol = join(host.dir, 'vol');
  mkdirSync(join(vol, 'sub'), { recursive: true });
  writeFileSync(join(vol, 'sub', 'a.txt'), 'alpha');
  writeFileSync(join(vol, 'b.txt'), 'beta');
  writeFileSync(join(vol, 'gone.txt'), 'deleted before the differential');
  const uploads = join(host.dir, 'uploads');
  mkdirSync(uploads);
  writeFileSync(join(uploads, 'u1'), 'upload one');
  host.setContainers({ app: running({ Mounts: [{ Destination: '/certs', Source: vol, Name: 'certs' }] }) });
  host.setVolumes({ certs: vol });
  const fleet = parseFleet({ fleet: 'demo', stacks: [{ name: 'web', hosts: { tag: { key: 'R', value: 'w' } }, services: [{ name: 'app', container: 'app' }],
    backup: { volumes: [{ name: 'certs' }], paths: [{ name: 'uploads', path: uploads }] } }] });
  const spec = specFile({ backup: backupSpecLines(fleet.stacks[0]!.backup!) });
  return { vol, uploads, spec };
}

/** A full of the volume (tar -g, as backup.sh makes level 0), then a differential after changes. */
function chain(vol: string) {
  const work = mkdtempSync(join(host.dir, 'chain-'));
  const full = zstd(execFileSync('tar', ['-C', vol, `--listed-incremental=${join(work, 'snar')}`, '-cf', '-', '.']));
  execFileSync('cp', [join(work, 'snar'), join(work, 'snar1')]);
  rmSync(join(vol, 'gone.txt'));
  writeFileSync(join(vol, 'sub', 'new.txt'), 'added after the full');
  writeFileSync(join(vol, 'b.txt'), 'beta, changed');
  const diff = zstd(execFileSync('tar', ['-C', vol, `--listed-incremental=${join(work, 'snar1')}`, '-cf', '-', '.']));
  rmSync(work, { recursive: true });
  return { full, diff };
}

function env(spec: string, extra: Record<string, string> = {}) {
  return host.env({
    PATH: `${bin}:${host.env().PATH}`, SHIPSHAPE_STACK: 'web', SHIPSHAPE_RUN_ID: `safety-${++n}`, SHIPSHAPE_SPEC_FILE: spec, SHIPSHAPE_BUCKET: BUCKET,
    SHIPSHAPE_S3_ENDPOINT: s3.endpoint, SHIPSHAPE_HEALTH_WAIT_SECONDS: '1', SHIPSHAPE_SCRATCH_DIR: host.dir, SHIPSHAPE_LOCK_DIR: join(host.dir, 'locks'),
    AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_DEFAULT_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true', HOME: host.dir, ...extra,
  });
}
async function restore(instance: string, spec: string, extra: Record<string, string> = {}) {
  const run = await runHostScript('restore.sh', env(spec, { AWS_SSM_INSTANCE_ID: instance, ...extra }), 120_000);
  expect(run.status, run.stderr).toBe(0);
  const parsed = RestoreResult.safeParse(run.json);
  expect(parsed.success, `${run.stdout}\n${run.stderr}`).toBe(true);
  return { result: parsed.data!, stderr: run.stderr };
}
const tarOf = (dir: string) => zstd(execFileSync('tar', ['-C', dir, '-cf', '-', '.']));

describe('restore.sh: chains', () => {
  it('restores a differential over its base: changed and new files come back, files deleted since the full are deleted', async () => {
    // Prepare
    const p = prepare();
    const instance = 'i-0000000000000c01';
    const { full, diff } = chain(p.vol);
    const expected = tree(p.vol);
    const base = await publish(instance, '20261120T020000Z', [{ name: 'certs', kind: 'volume', body: full }]);
    await publish(instance, '20261121T020000Z', [{ name: 'certs', kind: 'volume', body: diff, level: 1, base: base.certs }]);
    writeFileSync(join(p.vol, 'gone.txt'), 'came back by mistake');
    writeFileSync(join(p.vol, 'b.txt'), 'changed on the host');
    // Act
    const { result } = await restore(instance, p.spec);
    // Assess
    expect(result.errors).toEqual([]);
    expect(result.sources).toEqual([expect.objectContaining({ name: 'certs', ok: true, level: 1, baseKey: base.certs!.key, safetyNet: 'rename', aside: null, prepared: 'beside' })]);
    expect(tree(p.vol)).toEqual(expected);
    expect(existsSync(join(p.vol, 'gone.txt'))).toBe(false);
    expect(asides()).toEqual([]);
  });

  it('fails when the base of a differential was never verified, naming the missing link, unless AllowUnverified is true', async () => {
    // Prepare
    const p = prepare();
    const instance = 'i-0000000000000c02';
    const { full, diff } = chain(p.vol);
    const expected = tree(p.vol);
    const base = await publish(instance, '20261120T020000Z', [{ name: 'certs', kind: 'volume', body: full }], false);
    await publish(instance, '20261121T020000Z', [{ name: 'certs', kind: 'volume', body: diff, level: 1, base: base.certs }]);
    writeFileSync(join(p.vol, 'intruder'), 'x');
    const before = tree(p.vol);
    // Act
    const refused = await restore(instance, p.spec);
    const afterRefusal = tree(p.vol);
    const allowed = await restore(instance, p.spec, { SHIPSHAPE_ALLOW_UNVERIFIED: 'true' });
    // Assess
    expect(refused.result.ok).toBe(false);
    expect(refused.result.errors[0]).toMatch(/certs: the base of .*, backups\/web\/i-0000000000000c02\/20261120T020000Z\/certs\.tar\.zst, is from .*20261120T020000Z, which was never verified/);
    expect(afterRefusal).toEqual(before);
    expect(host.calls().filter((c) => c[0] === 'stop')).toHaveLength(1);
    expect(allowed.result.errors).toEqual([]);
    expect(tree(p.vol)).toEqual(expected);
  });

  it('fails when the base does not match its checksum, before changing anything', async () => {
    // Prepare
    const p = prepare();
    const instance = 'i-0000000000000c03';
    const { full, diff } = chain(p.vol);
    const base = await publish(instance, '20261120T020000Z', [{ name: 'certs', kind: 'volume', body: full }]);
    await publish(instance, '20261121T020000Z', [{ name: 'certs', kind: 'volume', body: diff, level: 1, base: base.certs }]);
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: base.certs!.key, Body: 'tampered' }));
    const before = tree(p.vol);
    // Act
    const { result } = await restore(instance, p.spec);
    // Assess
    expect(result.ok).toBe(false);
    expect(result.errors[0]).toMatch(/certs: base .*certs\.tar\.zst does not match its checksum .*; nothing was changed/);
    expect(tree(p.vol)).toEqual(before);
    expect(host.calls().some((c) => c[0] === 'stop')).toBe(false);
  });
});

describe('restore.sh: the safety net', () => {
  /** A verified full of both sources, then changes on the host that a restore must undo. */
  async function backedUp(instance: string) {
    const p = prepare();
    const wanted = { vol: tree(p.vol), uploads: tree(p.uploads) };
    await publish(instance, '20261121T020000Z', [{ name: 'certs', kind: 'volume', body: tarOf(p.vol) }, { name: 'uploads', kind: 'path', body: tarOf(p.uploads) }]);
    writeFileSync(join(p.vol, 'intruder'), 'written after the backup');
    writeFileSync(join(p.uploads, 'u1'), 'changed');
    chmodSync(p.vol, 0o750);
    return { p, wanted, before: { vol: tree(p.vol), uploads: tree(p.uploads) } };
  }

  it('prepares beside while the containers run, stops them only then, swaps by rename, and removes the aside copy only after success', async () => {
    // Prepare: a docker that lists the host directory whenever it stops or starts a container
    const { p, wanted } = await backedUp('i-0000000000000c10');
    const seen = { stop: join(host.dir, 'seen-at-stop'), start: join(host.dir, 'seen-at-start') };
    const dockerBin = join(host.dir, 'docker-bin');
    mkdirSync(dockerBin);
    writeFileSync(join(dockerBin, 'docker'), `#!/bin/bash\ncase "$1" in stop|start) ls "${host.dir}" >> "${host.dir}/seen-at-$1" ;; esac\nexec "${join(host.env().PATH!.split(':')[0]!, 'docker')}" "$@"\n`, { mode: 0o755 });
    // Act
    const { result, stderr } = await restore('i-0000000000000c10', p.spec, { PATH: `${dockerBin}:${bin}:${host.env().PATH}` });
    // Assess
    expect(result.errors).toEqual([]);
    expect(result.sources.map((s) => [s.name, s.safetyNet, s.aside, s.prepared])).toEqual([['certs', 'rename', null, 'beside'], ['uploads', 'rename', null, 'beside']]);
    expect({ vol: tree(p.vol), uploads: tree(p.uploads) }).toEqual(wanted);
    const atStop = readFileSync(seen.stop, 'utf8').split('\n');
    expect(atStop).toEqual(expect.arrayContaining([`vol.shipshape-restore-safety-${n}`, `uploads.shipshape-restore-safety-${n}`]));
    expect(atStop.some((f) => f.includes('shipshape-before-'))).toBe(false);
    expect(readFileSync(seen.start, 'utf8')).toContain(`vol.shipshape-before-safety-${n}`);
    expect(stderr.indexOf('shipshape-stage: prepare certs beside')).toBeLessThan(stderr.indexOf('shipshape-stage: stop app'));
    expect(asides()).toEqual([]);
  });

  it('checks a prepared database as soon as it is there, while a volume is still being extracted', async () => {
    // Prepare: a database beside the volume; tar extracts only once sqlite3 ran integrity_check
    const p = prepare();
    const data = join(host.dir, 'data');
    mkdirSync(data);
    const db = join(data, 'app.db');
    execFileSync('sqlite3', [db, 'CREATE TABLE t(v); INSERT INTO t VALUES (1), (2);']);
    host.setContainers({ app: running({ Mounts: [{ Destination: '/certs', Source: p.vol, Name: 'certs' }, { Destination: '/data', Source: data }] }) });
    const fleet = parseFleet({ fleet: 'demo', stacks: [{ name: 'web', hosts: { tag: { key: 'R', value: 'w' } }, services: [{ name: 'app', container: 'app' }],
      backup: { sqlite: [{ name: 'app-db', container: 'app', path: '/data/app.db' }], volumes: [{ name: 'certs' }] } }] });
    const spec = specFile({ backup: backupSpecLines(fleet.stacks[0]!.backup!) });
    const wanted = tree(p.vol);
    await publish('i-0000000000000c1a', '20261121T020000Z', [{ name: 'app-db', kind: 'sqlite', body: zstd(readFileSync(db)) }, { name: 'certs', kind: 'volume', body: tarOf(p.vol) }]);
    execFileSync('sqlite3', [db, 'DELETE FROM t;']);
    writeFileSync(join(p.vol, 'intruder'), 'x');
    // Act
    const { result } = await restore('i-0000000000000c1a', spec, { WAIT_FOR_CHECK: join(host.dir, 'checked') });
    // Assess
    expect(result.errors).toEqual([]);
    expect(result.sources.map((s) => [s.name, s.ok, s.prepared])).toEqual([['app-db', true, 'beside'], ['certs', true, 'beside']]);
    expect(execFileSync('sqlite3', [db, 'SELECT group_concat(v) FROM t;'], { encoding: 'utf8' }).trim()).toBe('1,2');
    expect(tree(p.vol)).toEqual(wanted);
    expect(asides()).toEqual([]);
  });

  it('prepares more sources than run at a time (two): every one verified, swapped in and restored', async () => {
    // Prepare: the volume and three paths, all changed after the backup
    const p = prepare();
    const extra = ['e1', 'e2'].map((name) => { const d = join(host.dir, name); mkdirSync(d); writeFileSync(join(d, 'f'), `${name} as backed up`); return { name, path: d }; });
    const fleet = parseFleet({ fleet: 'demo', stacks: [{ name: 'web', hosts: { tag: { key: 'R', value: 'w' } }, services: [{ name: 'app', container: 'app' }],
      backup: { volumes: [{ name: 'certs' }], paths: [{ name: 'uploads', path: p.uploads }, ...extra] } }] });
    const spec = specFile({ backup: backupSpecLines(fleet.stacks[0]!.backup!) });
    const wanted = [p.vol, p.uploads, ...extra.map((e) => e.path)].map(tree);
    await publish('i-0000000000000c19', '20261121T020000Z', [{ name: 'certs', kind: 'volume', body: tarOf(p.vol) }, { name: 'uploads', kind: 'path', body: tarOf(p.uploads) },
      ...extra.map((e) => ({ name: e.name, kind: 'path', body: tarOf(e.path) }))]);
    for (const d of [p.vol, p.uploads, ...extra.map((e) => e.path)]) writeFileSync(join(d, 'intruder'), 'written after the backup');
    // Act
    const { result } = await restore('i-0000000000000c19', spec);
    // Assess
    expect(result.errors).toEqual([]);
    expect(result.sources.map((s) => [s.name, s.ok, s.prepared])).toEqual([['certs', true, 'beside'], ['uploads', true, 'beside'], ['e1', true, 'beside'], ['e2', true, 'beside']]);
    expect([p.vol, p.uploads, ...extra.map((e) => e.path)].map(tree)).toEqual(wanted);
    expect(asides()).toEqual([]);
  });

  it('stages a source whose sibling cannot be created (mkdir), and restores it in place after renaming it aside', async () => {
    // Prepare
    const { p, wanted } = await backedUp('i-0000000000000c18');
    // Act
    const { result } = await restore('i-0000000000000c18', p.spec, { BREAK_MKDIR_PREP: '1' });
    // Assess
    expect(result.errors).toEqual([]);
    expect(result.sources.map((s) => [s.name, s.safetyNet, s.prepared])).toEqual([['certs', 'rename', 'staged'], ['uploads', 'rename', 'staged']]);
    expect({ vol: tree(p.vol), uploads: tree(p.uploads) }).toEqual(wanted);
    expect(asides()).toEqual([]);
  });

  it('fails when a later source cannot be extracted, before changing anything: the prepared copies are removed, no container stopped', async () => {
    // Prepare: uploads is not a zstd stream but matches its checksum
    const p = prepare();
    const before0 = { vol: tree(p.vol), uploads: tree(p.uploads) };
    await publish('i-0000000000000c11', '20261121T020000Z', [{ name: 'certs', kind: 'volume', body: tarOf(p.vol) }, { name: 'uploads', kind: 'path', body: Buffer.from('not zstd') }]);
    writeFileSync(join(p.vol, 'intruder'), 'x');
    const before = { vol: tree(p.vol), uploads: tree(p.uploads) };
    // Act
    const { result } = await restore('i-0000000000000c11', p.spec);
    // Assess
    expect(before).not.toEqual(before0);
    expect(result.ok).toBe(false);
    expect(result.rolledBack).toBeNull();
    expect(result.errors[0]).toMatch(/uploads: decompressing .*uploads\.tar\.zst failed \(zstd exit 1\).*; nothing was changed/);
    expect(result.sources).toEqual([]);
    expect({ vol: tree(p.vol), uploads: tree(p.uploads) }).toEqual(before);
    expect(asides()).toEqual([]);
    expect(host.calls().some((c) => c[0] === 'stop')).toBe(false);
    expect(host.containers().app!.State.Status).toBe('running');
  });

  it('copies aside and restores in place when the rename fails (mv)', async () => {
    // Prepare
    const { p, wanted } = await backedUp('i-0000000000000c12');
    // Act
    const { result } = await restore('i-0000000000000c12', p.spec, { BREAK_MV: '1' });
    // Assess
    expect(result.errors).toEqual([]);
    expect(result.sources.map((s) => [s.name, s.safetyNet])).toEqual([['certs', 'copy'], ['uploads', 'copy']]);
    expect({ vol: tree(p.vol), uploads: tree(p.uploads) }).toEqual(wanted);
    expect(asides()).toEqual([]);
  });

  it('fails when neither a rename nor a copy can set the data aside (mv and cp fail), before changing anything', async () => {
    // Prepare
    const { p, before } = await backedUp('i-0000000000000c13');
    // Act
    const { result } = await restore('i-0000000000000c13', p.spec, { BREAK_MV: '1', BREAK_CP: '1' });
    // Assess
    expect(result.ok).toBe(false);
    expect(result.rolledBack).toBeNull();
    expect(result.errors[0]).toMatch(/certs: .* cannot be renamed \(mv: mv: injected failure\) nor copied aside \(cp: injected failure\), so there would be no safety copy; nothing was restored/);
    expect({ vol: tree(p.vol), uploads: tree(p.uploads) }).toEqual(before);
    expect(asides()).toEqual([]);
    expect(host.containers().app!.State.Status).toBe('running');
  });

  it('fails when the fresh directory cannot be made (mkdir): the data is renamed back, nothing changed', async () => {
    // Prepare
    const { p, before } = await backedUp('i-0000000000000c14');
    // Act
    const { result } = await restore('i-0000000000000c14', p.spec, { BREAK_MKDIR: '1' });
    // Assess
    expect(result.ok).toBe(false);
    expect(result.rolledBack).toBeNull();
    expect(result.errors[0]).toMatch(/certs: cannot create a fresh .*vol \(mkdir: injected failure\); nothing was restored/);
    expect({ vol: tree(p.vol), uploads: tree(p.uploads) }).toEqual(before);
    expect(statSync(p.vol).mode & 0o777).toBe(0o750);
    expect(asides()).toEqual([]);
  });

  it('stages a mount point (copies it aside, restores in place) and prepares the other beside; a damaged archive changes neither', async () => {
    // Prepare: the volume's directory is a mount point (mountpoint says so); uploads cannot be extracted the second time
    const { p, wanted } = await backedUp('i-0000000000000c15');
    // Act
    const { result } = await restore('i-0000000000000c15', p.spec, { MOUNT_POINT: p.vol });
    const restored = tree(p.vol);
    writeFileSync(join(p.vol, 'intruder'), 'again');
    const before = { vol: tree(p.vol), uploads: tree(p.uploads) };
    await publish('i-0000000000000c15', '20261122T020000Z', [{ name: 'certs', kind: 'volume', body: tarOf(p.vol) }, { name: 'uploads', kind: 'path', body: Buffer.from('not zstd') }]);
    const failed = await restore('i-0000000000000c15', p.spec, { MOUNT_POINT: p.vol });
    // Assess
    expect(result.errors).toEqual([]);
    expect(result.sources.map((s) => [s.name, s.safetyNet, s.prepared])).toEqual([['certs', 'copy', 'staged'], ['uploads', 'rename', 'beside']]);
    expect(restored).toEqual(wanted.vol);
    expect(failed.result.ok).toBe(false);
    expect(failed.result.rolledBack).toBeNull();
    expect(failed.result.errors[0]).toMatch(/uploads: decompressing .* failed.*; nothing was changed/);
    expect({ vol: tree(p.vol), uploads: tree(p.uploads) }).toEqual(before);
    expect(asides()).toEqual([]);
  });

  it('restores a database that lives in a restored volume (excluded from its archive): prepared inside the prepared volume; a copy that is no database changes nothing', async () => {
    // Prepare: app.db inside the volume, backed up apart; the volume's archive (tar -g, as a full) excludes it
    const p = prepare();
    const db = join(p.vol, 'app.db');
    execFileSync('sqlite3', [db, 'CREATE TABLE t(v); INSERT INTO t VALUES (1), (2), (3);']);
    const fleet = parseFleet({ fleet: 'demo', stacks: [{ name: 'web', hosts: { tag: { key: 'R', value: 'w' } }, services: [{ name: 'app', container: 'app' }],
      backup: { sqlite: [{ name: 'app-db', container: 'app', path: '/certs/app.db' }], volumes: [{ name: 'certs' }], exclude: ['app.db*'] } }] });
    const spec = specFile({ backup: backupSpecLines(fleet.stacks[0]!.backup!) });
    const snar = join(host.dir, 'x.snar');
    const volume = zstd(execFileSync('tar', ['-C', p.vol, `--listed-incremental=${snar}`, '--exclude=app.db*', '-cf', '-', '.']));
    const good = zstd(readFileSync(db));
    await publish('i-0000000000000c17', '20261121T020000Z', [{ name: 'app-db', kind: 'sqlite', body: good }, { name: 'certs', kind: 'volume', body: volume }]);
    const wanted = tree(p.vol);
    execFileSync('sqlite3', [db, 'DELETE FROM t;']);
    writeFileSync(join(p.vol, 'intruder'), 'x');
    // Act 1
    const ok = await restore('i-0000000000000c17', spec);
    // Assess 1
    expect(ok.result.errors).toEqual([]);
    expect(tree(p.vol)).toEqual(wanted);
    expect(execFileSync('sqlite3', [db, 'SELECT count(*) FROM t;'], { encoding: 'utf8' }).trim()).toBe('3');
    // Act 2: a newer run whose database archive holds no SQLite file (found while preparing)
    execFileSync('sqlite3', [db, 'DELETE FROM t WHERE v = 1;']);
    const before = tree(p.vol);
    await publish('i-0000000000000c17', '20261122T020000Z', [{ name: 'app-db', kind: 'sqlite', body: zstd(Buffer.from('not a database')) }, { name: 'certs', kind: 'volume', body: volume }]);
    const failed = await restore('i-0000000000000c17', spec);
    // Assess 2
    expect(ok.result.sources.map((s) => [s.name, s.prepared])).toEqual([['app-db', 'beside'], ['certs', 'beside']]);
    expect(failed.result.rolledBack).toBeNull();
    expect(failed.result.errors[0]).toMatch(/app-db: .*app-db\.db\.zst: the decompressed copy is not a SQLite database \(14 bytes\); nothing was changed/);
    expect(tree(p.vol)).toEqual(before);
    expect(execFileSync('sqlite3', [db, 'SELECT group_concat(v) FROM t;'], { encoding: 'utf8' }).trim()).toBe('2,3');
    expect(asides()).toEqual([]);
  });

  it('leaves the live data untouched when killed while preparing; the next run removes the leftover and names it', async () => {
    // Prepare: tar hangs while extracting; the script is killed (SIGKILL: no trap runs)
    const { p, before, wanted } = await backedUp('i-0000000000000c16');
    const child = spawn('bash', [hostScript('restore.sh')], { env: env(p.spec, { AWS_SSM_INSTANCE_ID: 'i-0000000000000c16', HANG_TAR: '1' }), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const killedRun = n;
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`never reached the extraction: ${stderr}`)), 60_000);
      const poll = setInterval(() => {
        if (!stderr.includes('shipshape-stage: prepare certs beside')) return;
        clearInterval(poll);
        clearTimeout(timer);
        setTimeout(() => { process.kill(-child.pid!, 'SIGKILL'); resolve(); }, 500);
      }, 100);
    });
    const leftover = `${p.vol}.shipshape-restore-safety-${killedRun}`;
    const untouched = { vol: tree(p.vol), uploads: tree(p.uploads) };
    const leftBehind = existsSync(leftover);
    // Act
    const next = await restore('i-0000000000000c16', p.spec);
    // Assess
    expect(untouched).toEqual(before);
    expect(leftBehind).toBe(true);
    expect(host.calls().filter((c) => c[0] === 'stop')).toHaveLength(1);
    expect(next.result.errors).toEqual([]);
    expect(next.stderr).toContain(`removing ${leftover}, left by an earlier restore that did not finish`);
    expect({ vol: tree(p.vol), uploads: tree(p.uploads) }).toEqual(wanted);
    expect(asides()).toEqual([]);
  });

  it('ends without waiting for the copies set aside to be removed: they are renamed for removal, named in the result, and removed after it', async () => {
    // Prepare: rm of the copies set aside waits until the test releases it
    const { p, wanted, before } = await backedUp('i-0000000000000c1b');
    const release = join(host.dir, 'release-rm');
    // Act: the script must end while its rm still waits (else restore() waits out its 120 s limit)
    const { result } = await restore('i-0000000000000c1b', p.spec, { HOLD_RM: release });
    const run = n;
    const whileRemoving = leftovers().sort();
    const keptWhileRemoving = tree(`${p.vol}.shipshape-drop-safety-${run}`);
    writeFileSync(release, '');
    // Assess
    expect(result.errors).toEqual([]);
    expect(result.sources.map((s) => [s.name, s.ok, s.aside, s.dropping])).toEqual([
      ['certs', true, null, `${p.vol}.shipshape-drop-safety-${run}`], ['uploads', true, null, `${p.uploads}.shipshape-drop-safety-${run}`]]);
    expect(whileRemoving).toEqual([`uploads.shipshape-drop-safety-${run}`, `vol.shipshape-drop-safety-${run}`]);
    expect(keptWhileRemoving).toEqual(before.vol);
    expect({ vol: tree(p.vol), uploads: tree(p.uploads) }).toEqual(wanted);
    expect(asides()).toEqual([]);
  });

  it('removes the copies set aside in the run when they cannot be renamed for removal (mv), and names none as dropping', async () => {
    // Prepare
    const { p, wanted } = await backedUp('i-0000000000000c1d');
    // Act
    const { result } = await restore('i-0000000000000c1d', p.spec, { BREAK_MV_DROP: '1' });
    // Assess
    expect(result.errors).toEqual([]);
    expect(result.sources.map((s) => [s.name, s.ok, s.aside, s.dropping])).toEqual([['certs', true, null, null], ['uploads', true, null, null]]);
    expect({ vol: tree(p.vol), uploads: tree(p.uploads) }).toEqual(wanted);
    expect(leftovers()).toEqual([]);
  });

  it('removes the copies an earlier restore was still removing when the host went down, and names them', async () => {
    // Prepare: what a reboot during the background removal leaves (part of a copy renamed for removal)
    const { p, wanted } = await backedUp('i-0000000000000c1c');
    const cut = `${p.vol}.shipshape-drop-safety-earlier`;
    mkdirSync(join(cut, 'sub'), { recursive: true });
    writeFileSync(join(cut, 'sub', 'a.txt'), 'alpha');
    // Act
    const { result, stderr } = await restore('i-0000000000000c1c', p.spec);
    // Assess
    expect(result.errors).toEqual([]);
    expect(stderr).toContain(`removing ${cut}, the data from before an earlier restore that succeeded; its removal did not finish`);
    expect(existsSync(cut)).toBe(false);
    expect({ vol: tree(p.vol), uploads: tree(p.uploads) }).toEqual(wanted);
    expect(asides()).toEqual([]);
  });
});
