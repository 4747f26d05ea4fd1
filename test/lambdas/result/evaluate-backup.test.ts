import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateBackup, verifyBackup } from '../../../lambdas/result/evaluate-backup.js';
import type { BackupResult } from '../../../lib/results/backup.js';
import { failing } from '../../../lib/results/findings.js';
import { startS3 } from '../../support/aws-local.js';
import { demoFleet } from '../../support/fleets.js';
import { MemoryStateStore } from '../../support/memory-store.js';

const fleet = demoFleet((f) => {
  f.stacks[0]!.backup = { sqlite: [{ name: 'db', container: 'web-db-1', path: '/data/app.db' }], volumes: [{ name: 'certs' }], stop: ['web-api-1'] };
});
const stack = fleet.stacks[0]!;
const BUCKET = 'backups';
let s3: Awaited<ReturnType<typeof startS3>>;
beforeAll(async () => { s3 = await startS3([BUCKET]); });
afterAll(() => s3.stop());

let n = 0;
/** Uploads archives for a run and returns the host's report of it. */
async function uploadRun(contents: Record<string, Buffer>, tweak: (r: BackupResult) => void = () => {}): Promise<BackupResult> {
  const prefix = `backups/web/i-1/2026112${n++}T020000Z`;
  const archives = [];
  for (const [name, body] of Object.entries(contents)) {
    const key = `${prefix}/${name}.tar.zst`;
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
    archives.push({ name, kind: name === 'db' ? 'sqlite' as const : 'volume' as const, source: name, method: 'tar', key, ok: true, bytes: body.length,
      sha256: createHash('sha256').update(body).digest('hex'), compression: 'zstd' as const, integrity: null, durationMs: 5, error: null });
  }
  const manifestKey = `${prefix}/manifest.json`;
  await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: manifestKey, Body: JSON.stringify({ schema: 'shipshape.backup-manifest/1', stack: 'web', host: 'i-1', runId: 'r', startedAt: 'x', finishedAt: 'y', archives, tools: {} }) }));
  const result: BackupResult = { schema: 'shipshape.backup/1', stack: 'web', runId: 'r', hostname: 'web-1', host: 'i-1', startedAt: 'x', durationMs: 10, bucket: BUCKET, prefix, manifestKey, complete: true,
    archives, restarts: [{ container: 'web-api-1', started: true, state: 'running', health: 'healthy', waitedMs: 100 }], missingTools: [], errors: [] };
  tweak(result);
  return result;
}
const data = (size: number, seed = 'x') => Buffer.alloc(size, seed);

describe('evaluateBackup', () => {
  it('finds nothing wrong with a complete run', async () => {
    const r = await uploadRun({ db: data(100), certs: data(50) });
    expect(failing(evaluateBackup(r, fleet, stack))).toEqual([]);
  });

  it('is critical for a missing source, an incomplete run and a container left stopped, each once', async () => {
    const r = await uploadRun({ certs: data(50) }, (x) => {
      x.complete = false;
      x.manifestKey = null;
      x.errors = ['db: the snapshot of /data/app.db fails integrity_check: *** in database main ***', 'container web-api-1 did not start again: boom'];
      x.restarts = [{ container: 'web-api-1', started: false, state: 'exited', health: 'none', waitedMs: 2000 }];
    });
    expect(failing(evaluateBackup(r, fleet, stack)).map((f) => [f.check, f.target])).toEqual([
      ['backup.archive', 'db'], ['backup.restart', 'web-api-1'], ['backup.complete', r.prefix],
    ]);
  });
});

describe('verifyBackup against S3', () => {
  const opts = { checksumMaxBytes: 1024 * 1024, now: Date.parse('2026-11-22T02:10:00Z') };

  it('verifies sizes and checksums, and writes verified.json next to the manifest', async () => {
    const store = new MemoryStateStore();
    const r = await uploadRun({ db: data(1000), certs: data(500) });
    const findings = await verifyBackup(s3.client, store, r, stack, opts);
    expect(failing(findings)).toEqual([]);
    const marker = await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${r.prefix}/verified.json` }));
    const body = JSON.parse(await marker.Body!.transformToString());
    expect(body.archives.map((a: { checksumVerified: boolean }) => a.checksumVerified)).toEqual([true, true]);
    expect(await store.backupSizes('web', 'i-1')).toEqual({ db: [1000], certs: [500] });
  });

  it('is critical when S3 holds different bytes than the host hashed, and marks nothing verified', async () => {
    const store = new MemoryStateStore();
    const r = await uploadRun({ db: data(1000) });
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: r.archives[0]!.key, Body: data(1000, 'y') }));
    const findings = await verifyBackup(s3.client, store, r, stack, opts);
    expect(failing(findings).map((f) => [f.check, f.target])).toEqual([['backup.verify', 'db']]);
    await expect(s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${r.prefix}/verified.json` }))).rejects.toThrow();
  });

  it('is critical when an archive is missing or has another size', async () => {
    const r = await uploadRun({ db: data(1000), certs: data(10) });
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: r.archives[1]!.key, Body: data(11) }));
    const findings = await verifyBackup(s3.client, new MemoryStateStore(), r, stack, { ...opts, checksumMaxBytes: 0 });
    expect(failing(findings).map((f) => [f.check, f.target, f.observed, f.threshold])).toEqual([['backup.verify', 'certs', 11, 10]]);
  });

  it('verifies an archive uploaded in parts by its composite checksum, hashed at the manifest\'s part boundaries', async () => {
    // Prepare: the host's report of a 3-part upload (S3's composite SHA-256 and the layout)
    const body = Buffer.concat([data(1000, 'a'), data(1000, 'b'), data(300, 'c')]);
    const part = (b: Buffer) => createHash('sha256').update(b).digest();
    const composite = `${createHash('sha256').update(Buffer.concat([part(data(1000, 'a')), part(data(1000, 'b')), part(data(300, 'c'))])).digest('hex')}-1000x3`;
    const r = await uploadRun({ db: body }, (x) => { x.archives[0]!.sha256 = composite; });
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: r.manifestKey!, Body: JSON.stringify({ schema: 'shipshape.backup-manifest/1', stack: 'web', host: 'i-1', runId: 'r', startedAt: 'x', finishedAt: 'y', archives: r.archives, tools: {} }) }));
    // Act
    const good = await verifyBackup(s3.client, new MemoryStateStore(), r, stack, opts);
    const moved = Buffer.from(body);
    [moved[999], moved[1000]] = [moved[1000]!, moved[999]!]; // the same bytes, one crossing a part boundary
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: r.archives[0]!.key, Body: moved }));
    const bad = await verifyBackup(s3.client, new MemoryStateStore(), { ...r, runId: 'r2' }, stack, opts);
    // Assess
    expect(failing(good)).toEqual([]);
    expect(failing(bad).map((f) => [f.check, f.target, f.threshold])).toEqual([['backup.verify', 'db', composite]]);
  });

  it('checks the SHA-256 checksum S3 keeps for an archive of any size, and fails when it is not the host\'s', async () => {
    // Prepare: archives above the download limit; S3 reports its checksum (s3rver does not, so it is added here)
    const body = data(2000);
    const r = await uploadRun({ db: body, certs: body });
    const reported: Record<string, string> = {
      [r.archives[0]!.key]: createHash('sha256').update(body).digest('base64'),
      [r.archives[1]!.key]: createHash('sha256').update(data(2000, 'y')).digest('base64'),
    };
    const modes: (string | undefined)[] = [];
    const client = { send: async (cmd: { input: { Key?: string; ChecksumMode?: string } }) => {
      const out = await s3.client.send(cmd as never) as unknown as Record<string, unknown>;
      if (cmd instanceof HeadObjectCommand) { modes.push(cmd.input.ChecksumMode); return { ...out, ChecksumSHA256: reported[cmd.input.Key!] }; }
      return out;
    } };
    // Act
    const findings = await verifyBackup(client as never, new MemoryStateStore(), r, stack, { ...opts, checksumMaxBytes: 0 });
    // Assess
    expect(modes.every((m) => m === 'ENABLED')).toBe(true);
    expect(findings.filter((f) => f.check === 'backup.verify').map((f) => [f.target, f.severity, f.observed])).toEqual([
      ['db', 'ok', 'size and sha256 match'],
      ['certs', 'critical', reported[r.archives[1]!.key]],
    ]);
    expect(failing(findings)[0]!.message).toMatch(/has the SHA-256 checksum .* in S3, not the .* of the bytes the host uploaded/);
  });

  it('warns when an archive shrinks far below the median of recent backups', async () => {
    const store = new MemoryStateStore();
    await store.recordBackupSizes('web', 'i-1', { db: 1000 });
    await store.recordBackupSizes('web', 'i-1', { db: 1100 });
    await store.recordBackupSizes('web', 'i-1', { db: 1050 });
    const r = await uploadRun({ db: data(300) });
    const findings = failing(await verifyBackup(s3.client, store, r, stack, opts));
    expect(findings.map((f) => [f.severity, f.check, f.target])).toEqual([['warning', 'backup.size', 'db']]);
    expect(findings[0]!.message).toMatch(/71% smaller than the median of its last 3 backups/);
  });
});

describe('verifyBackup of differentials (level 1 on top of a full)', () => {
  const opts = { checksumMaxBytes: 1024 * 1024, now: Date.parse('2026-11-22T02:10:00Z') };
  let day = 10;
  const put = (Key: string, Body: Buffer | string) => s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body }));
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  const entry = (key: string, body: Buffer, extra: Record<string, unknown> = {}) => ({ name: 'certs', kind: 'volume' as const, source: 'volume certs', method: 'tar', key, ok: true, bytes: body.length,
    sha256: sha(body), compression: 'zstd' as const, integrity: null, durationMs: 5, error: null, ...extra });
  const manifest = (archives: unknown[]) => JSON.stringify({ schema: 'shipshape.backup-manifest/1', stack: 'web', host: 'i-2', runId: 'r', startedAt: 'x', finishedAt: 'y', archives, tools: {} });

  /** A verified full of "certs", and a run whose "certs" is a differential on it. */
  async function fullAndDifferential(opts2: { verifyFull?: boolean } = {}) {
    const fullPrefix = `backups/web/i-2/202611${day++}T020000Z`;
    const diffPrefix = `backups/web/i-2/202611${day++}T020000Z`;
    const fullBody = data(2000, 'f');
    const diffBody = data(30, 'd');
    const fullKey = `${fullPrefix}/certs.tar.zst`;
    await put(fullKey, fullBody);
    await put(`${fullPrefix}/manifest.json`, manifest([entry(fullKey, fullBody, { level: 0, baseKey: null, baseSha256: null })]));
    if (opts2.verifyFull !== false) await put(`${fullPrefix}/verified.json`, '{}');
    const diff = entry(`${diffPrefix}/certs.tar.zst`, diffBody, { level: 1, baseKey: fullKey, baseSha256: sha(fullBody) });
    await put(diff.key, diffBody);
    await put(`${diffPrefix}/manifest.json`, manifest([diff]));
    const result: BackupResult = { schema: 'shipshape.backup/1', stack: 'web', runId: `r${day}`, hostname: 'web-2', host: 'i-2', startedAt: 'x', durationMs: 10, bucket: BUCKET, prefix: diffPrefix,
      manifestKey: `${diffPrefix}/manifest.json`, complete: true, archives: [diff], restarts: [], missingTools: [], errors: [] };
    return { result, fullKey, diffPrefix };
  }
  const marked = (prefix: string) => s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${prefix}/verified.json` })).then(() => true, () => false);

  it('verifies a differential whose full is in S3 whole and verified, without comparing its size to the fulls', async () => {
    // Prepare
    const store = new MemoryStateStore();
    for (const bytes of [2000, 2100, 1900]) await store.recordBackupSizes('web', 'i-2', { certs: bytes });
    const { result, diffPrefix } = await fullAndDifferential();
    // Act
    const findings = await verifyBackup(s3.client, store, result, stack, opts);
    // Assess
    expect(failing(findings)).toEqual([]);
    expect(await marked(diffPrefix)).toBe(true);
    expect((await store.backupSizes('web', 'i-2'))['certs@1']).toEqual([30]);
  });

  it('fails when the full is missing from S3, naming it, and marks nothing verified', async () => {
    // Prepare
    const { result, fullKey, diffPrefix } = await fullAndDifferential();
    await s3.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: fullKey }));
    // Act
    const findings = failing(await verifyBackup(s3.client, new MemoryStateStore(), result, stack, opts));
    // Assess
    expect(findings.map((f) => [f.severity, f.check, f.target])).toEqual([['critical', 'backup.verify', 'certs']]);
    expect(findings[0]!.message).toContain(`${fullKey}, is missing from S3`);
    expect(await marked(diffPrefix)).toBe(false);
  });

  it('fails when the full\'s run is not verified', async () => {
    // Prepare
    const { result, diffPrefix } = await fullAndDifferential({ verifyFull: false });
    // Act
    const findings = failing(await verifyBackup(s3.client, new MemoryStateStore(), result, stack, opts));
    // Assess
    expect(findings.map((f) => f.message)).toEqual([expect.stringMatching(/belongs to a run that is not verified/)]);
    expect(await marked(diffPrefix)).toBe(false);
  });

  it('fails when the full in S3 has another size, or other bytes than its SHA-256', async () => {
    // Prepare
    const resized = await fullAndDifferential();
    await put(resized.fullKey, data(2001, 'f'));
    const damaged = await fullAndDifferential();
    await put(damaged.fullKey, data(2000, 'g'));
    // Act
    const a = failing(await verifyBackup(s3.client, new MemoryStateStore(), resized.result, stack, opts));
    const b = failing(await verifyBackup(s3.client, new MemoryStateStore(), damaged.result, stack, opts));
    // Assess
    expect(a.map((f) => f.message)).toEqual([expect.stringMatching(/is 2001 bytes in S3 but 2000 in its manifest/)]);
    expect(b.map((f) => f.message)).toEqual([expect.stringMatching(/does not match its SHA-256/)]);
  });

  it('fails when a differential names no base', async () => {
    // Prepare
    const { result } = await fullAndDifferential();
    const m = JSON.parse((await (await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: result.manifestKey! }))).Body!.transformToString()));
    m.archives[0].baseKey = null;
    await put(result.manifestKey!, JSON.stringify(m));
    // Act
    const findings = failing(await verifyBackup(s3.client, new MemoryStateStore(), result, stack, opts));
    // Assess
    expect(findings.map((f) => f.message)).toEqual([expect.stringMatching(/is a differential without a base/)]);
  });
});
