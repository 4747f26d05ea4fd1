/** drill.sh for real: restores the newest verified backup into scratch space and checks it. */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DrillResult } from '../../lib/results/drill.js';
import { startS3 } from '../support/aws-local.js';
import { FakeHost } from '../support/fake-host.js';
import { runHostScript } from '../support/run-script.js';

const BUCKET = 'drill-bucket';
let s3: Awaited<ReturnType<typeof startS3>>;
let awsBin: string;
let host: FakeHost;
let scratch: string;
beforeAll(async () => {
  s3 = await startS3([BUCKET]);
  awsBin = mkdtempSync(join(tmpdir(), 'aws-bin-'));
  symlinkSync('/usr/bin/aws', join(awsBin, 'aws'));
  host = new FakeHost();
  scratch = join(host.dir, 'scratch');
  mkdirSync(scratch);
});
afterAll(async () => { host.dispose(); await s3.stop(); });

const zstd = (b: Buffer) => execFileSync('zstd', ['-q', '-c'], { input: b });
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
/** The manifest's checksum of <b> uploaded in parts of <partBytes> (S3's composite SHA-256 and the layout). */
const composite = (b: Buffer, partBytes: number) => {
  const digests: Buffer[] = [];
  for (let at = 0; at < b.length; at += partBytes) digests.push(createHash('sha256').update(b.subarray(at, at + partBytes)).digest());
  return `${createHash('sha256').update(Buffer.concat(digests)).digest('hex')}-${partBytes}x${digests.length}`;
};
async function publishRun(instance: string, stamp: string, archives: { name: string; kind: string; body: Buffer; base?: { key: string; sha256: string }; sha256?: string }[], verified = true) {
  const prefix = `backups/web/${instance}/${stamp}`;
  const entries = [];
  for (const a of archives) {
    const key = `${prefix}/${a.name}.${a.kind === 'sqlite' ? 'db' : 'tar'}.zst`;
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: a.body }));
    // chain-format: a differential names its base at the end of its entry.
    const chain = a.base ? { level: 1, baseKey: a.base.key, baseSha256: a.base.sha256 } : {};
    entries.push({ name: a.name, kind: a.kind, source: a.name, method: 'x', key, ok: true, bytes: a.body.length, sha256: a.sha256 ?? sha(a.body), compression: 'zstd', integrity: null, durationMs: 1, error: null, ...chain });
  }
  await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${prefix}/manifest.json`, Body: JSON.stringify({ schema: 'shipshape.backup-manifest/1', archives: entries }) }));
  if (verified) await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${prefix}/verified.json`, Body: '{}' }));
  return prefix;
}
async function drill(instance: string) {
  const run = await runHostScript('drill.sh', host.env({
    PATH: `${awsBin}:${host.env().PATH}`, SHIPSHAPE_STACK: 'web', SHIPSHAPE_RUN_ID: 'd', SHIPSHAPE_BUCKET: BUCKET, SHIPSHAPE_S3_ENDPOINT: s3.endpoint, 
    SHIPSHAPE_SCRATCH_DIR: scratch, AWS_SSM_INSTANCE_ID: instance,
    AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_DEFAULT_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true', HOME: host.dir,
  }), 120_000);
  return DrillResult.parse(run.json);
}
function sqliteFile(sql: string): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'db-'));
  execFileSync('sqlite3', [join(dir, 'x.db'), sql]);
  return execFileSync('cat', [join(dir, 'x.db')]);
}
function tarOf(files: Record<string, string>): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'tar-'));
  for (const [f, c] of Object.entries(files)) writeFileSync(join(dir, f), c);
  return execFileSync('tar', ['-C', dir, '-cf', '-', '.']);
}

describe('drill.sh', () => {
  it('restores the newest verified run into scratch, checks it, and leaves no scratch behind', async () => {
    await publishRun('i-00000000000000d1', '20261120T020000Z', [{ name: 'old', kind: 'volume', body: zstd(tarOf({ a: '1' })) }]);
    const newest = await publishRun('i-00000000000000d1', '20261121T020000Z', [
      { name: 'db', kind: 'sqlite', body: zstd(sqliteFile('CREATE TABLE t(x); INSERT INTO t VALUES (1);')) },
      { name: 'files', kind: 'volume', body: zstd(tarOf({ a: '1', b: '2' })) },
    ]);
    await publishRun('i-00000000000000d1', '20261122T020000Z', [{ name: 'unverified', kind: 'volume', body: zstd(tarOf({ a: '1' })) }], false);
    const r = await drill('i-00000000000000d1');
    expect(r.errors).toEqual([]);
    expect(r.from).toBe(newest);
    expect(r.archives.map((a) => [a.name, a.ok, a.integrity, a.entries])).toEqual([['db', true, 'ok', null], ['files', true, null, 3]]);
    expect(readdirSync(scratch)).toEqual([]);
  });

  it('fails for an archive whose checksum does not match, and for a database that is corrupt', async () => {
    const corrupt = Buffer.from(sqliteFile('CREATE TABLE t(x); INSERT INTO t VALUES (1);'));
    corrupt.fill(0x41, 100, 4096);
    const prefix = await publishRun('i-00000000000000d2', '20261121T020000Z', [
      { name: 'db', kind: 'sqlite', body: zstd(corrupt) },
      { name: 'files', kind: 'volume', body: zstd(tarOf({ a: '1' })) },
    ]);
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${prefix}/files.tar.zst`, Body: 'tampered' }));
    const r = await drill('i-00000000000000d2');
    expect(r.archives.map((a) => [a.name, a.ok])).toEqual([['db', false], ['files', false]]);
    expect(r.archives[0]!.error).toMatch(/integrity_check|file is not a database/);
    expect(r.archives[1]!.error).toMatch(/checksum mismatch/);
    expect(readdirSync(scratch)).toEqual([]);
  });

  it('drills the newest chain: the base and the differential, both verified, extracted in order', async () => {
    // Prepare: a full made with tar -g, then a differential after a file was deleted and one added
    const dir = mkdtempSync(join(tmpdir(), 'chain-'));
    const snar = join(dir, '..', `${dir.split('/').pop()}.snar`);
    writeFileSync(join(dir, 'a'), '1');
    writeFileSync(join(dir, 'gone'), 'deleted later');
    const full = zstd(execFileSync('tar', ['-C', dir, `--listed-incremental=${snar}`, '-cf', '-', '.']));
    rmSync(join(dir, 'gone'));
    writeFileSync(join(dir, 'b'), '2');
    const diff = zstd(execFileSync('tar', ['-C', dir, `--listed-incremental=${snar}`, '-cf', '-', '.']));
    const base = `backups/web/i-00000000000000d4/20261120T020000Z/files.tar.zst`;
    await publishRun('i-00000000000000d4', '20261120T020000Z', [{ name: 'files', kind: 'volume', body: full }]);
    await publishRun('i-00000000000000d4', '20261121T020000Z', [{ name: 'files', kind: 'volume', body: diff, base: { key: base, sha256: sha(full) } }]);
    // Act
    const r = await drill('i-00000000000000d4');
    // Assess: ".", a, b (gone was deleted by the differential)
    expect(r.errors).toEqual([]);
    expect(r.archives).toEqual([expect.objectContaining({ name: 'files', ok: true, entries: 3, level: 1, baseKey: base })]);
    expect(readdirSync(scratch)).toEqual([]);
  });

  it('fails when the base of the newest differential is not verified or does not match its checksum', async () => {
    // Prepare
    const full = zstd(tarOf({ a: '1' }));
    const diff = zstd(tarOf({ b: '2' }));
    const unverifiedBase = await publishRun('i-00000000000000d5', '20261120T020000Z', [{ name: 'files', kind: 'volume', body: full }], false);
    await publishRun('i-00000000000000d5', '20261121T020000Z', [{ name: 'files', kind: 'volume', body: diff, base: { key: `${unverifiedBase}/files.tar.zst`, sha256: sha(full) } }]);
    await publishRun('i-00000000000000d6', '20261120T020000Z', [{ name: 'files', kind: 'volume', body: full }]);
    await publishRun('i-00000000000000d6', '20261121T020000Z', [{ name: 'files', kind: 'volume', body: diff, base: { key: 'backups/web/i-00000000000000d6/20261120T020000Z/files.tar.zst', sha256: 'f'.repeat(64) } }]);
    // Act
    const unverified = await drill('i-00000000000000d5');
    const mismatch = await drill('i-00000000000000d6');
    // Assess
    expect(unverified.archives.map((a) => [a.name, a.ok])).toEqual([['files', false]]);
    expect(unverified.archives[0]!.error).toBe(`its base ${unverifiedBase}/files.tar.zst is from ${unverifiedBase}, which was never verified`);
    expect(mismatch.archives[0]!.error).toMatch(/^base checksum mismatch: .*files\.tar\.zst does not match its checksum/);
    expect(readdirSync(scratch)).toEqual([]);
  });

  it('drills archives recorded with a composite checksum (uploaded in parts), a differential\'s base too, and fails when a part differs', async () => {
    // Prepare: a full and a differential of several 4 KiB parts each, and a database
    const dir = mkdtempSync(join(tmpdir(), 'parts-'));
    const snar = join(dir, '..', `${dir.split('/').pop()}.snar`);
    writeFileSync(join(dir, 'a'), randomBytes(20_000));
    const full = zstd(execFileSync('tar', ['-C', dir, `--listed-incremental=${snar}`, '-cf', '-', '.']));
    writeFileSync(join(dir, 'b'), randomBytes(10_000));
    const diff = zstd(execFileSync('tar', ['-C', dir, `--listed-incremental=${snar}`, '-cf', '-', '.']));
    const db = zstd(sqliteFile('CREATE TABLE t(x); INSERT INTO t VALUES (randomblob(9000));'));
    const base = `backups/web/i-00000000000000d7/20261120T020000Z/files.tar.zst`;
    await publishRun('i-00000000000000d7', '20261120T020000Z', [{ name: 'files', kind: 'volume', body: full, sha256: composite(full, 4096) }]);
    const newest = await publishRun('i-00000000000000d7', '20261121T020000Z', [
      { name: 'files', kind: 'volume', body: diff, sha256: composite(diff, 4096), base: { key: base, sha256: composite(full, 4096) } },
      { name: 'db', kind: 'sqlite', body: db, sha256: composite(db, 4096) },
    ]);
    expect(composite(full, 4096)).toMatch(/-4096x[4-9]$/);
    // Act
    const good = await drill('i-00000000000000d7');
    const swapped = Buffer.from(db);
    [swapped[4095], swapped[4096]] = [swapped[4096]!, swapped[4095]!]; // the same bytes, one across a part boundary
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${newest}/db.db.zst`, Body: swapped }));
    const bad = await drill('i-00000000000000d7');
    // Assess
    expect(good.errors).toEqual([]);
    expect(good.archives.map((a) => [a.name, a.ok, a.entries ?? a.integrity])).toEqual([['files', true, 3], ['db', true, 'ok']]);
    expect(bad.archives.map((a) => [a.name, a.ok])).toEqual([['files', true], ['db', false]]);
    expect(bad.archives[1]!.error).toMatch(/checksum mismatch/);
    expect(readdirSync(scratch)).toEqual([]);
  });

  it('says so when there is nothing verified to drill', async () => {
    const r = await drill('i-00000000000000d3');
    expect(r.errors).toEqual(['no verified backup under backups/web/i-00000000000000d3/']);
  });
});
