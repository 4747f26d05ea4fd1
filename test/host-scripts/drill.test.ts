/** drill.sh for real: restores the newest verified backup into scratch space and checks it. */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
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
async function publishRun(instance: string, stamp: string, archives: { name: string; kind: string; body: Buffer }[], verified = true) {
  const prefix = `backups/web/${instance}/${stamp}`;
  const entries = [];
  for (const a of archives) {
    const key = `${prefix}/${a.name}.${a.kind === 'sqlite' ? 'db' : 'tar'}.zst`;
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: a.body }));
    entries.push({ name: a.name, kind: a.kind, source: a.name, method: 'x', key, ok: true, bytes: a.body.length, sha256: sha(a.body), compression: 'zstd', integrity: null, durationMs: 1, error: null });
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

  it('says so when there is nothing verified to drill', async () => {
    const r = await drill('i-00000000000000d3');
    expect(r.errors).toEqual(['no verified backup under backups/web/i-00000000000000d3/']);
  });
});
