import { ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyRetention } from '../../../lambdas/retention/retention.js';
import { startS3 } from '../../support/aws-local.js';
import { demoFleet } from '../../support/fleets.js';

const BUCKET = 'retention';
let s3: Awaited<ReturnType<typeof startS3>>;
beforeAll(async () => { s3 = await startS3([BUCKET]); });
afterAll(() => s3.stop());

const fleet = demoFleet((f) => {
  f.stacks[0]!.backup = { volumes: [{ name: 'v' }], retention: { keepLast: 2, daily: 0, weekly: 0, monthly: 0 } };
});
const now = Date.parse('2026-11-22T03:00:00Z');
const put = (Key: string) => s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: 'x' }));
const all = async () => ((await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET }))).Contents ?? []).map((c) => c.Key!).sort();

describe('applyRetention against an S3 server', () => {
  it('plans without deleting in a dry run, then deletes exactly the planned runs', async () => {
    // Prepare: four verified runs, one incomplete old run, another host, and a stack not in the config
    for (const day of ['18', '19', '20', '21']) {
      for (const f of ['v.tar.zst', 'manifest.json', 'verified.json']) await put(`backups/web/i-1/202611${day}T020000Z/${f}`);
    }
    await put('backups/web/i-1/20261101T020000Z/v.tar.zst');
    await put('backups/web/i-2/20261121T020000Z/v.tar.zst');
    await put('backups/old-stack/i-9/20200101T000000Z/v.tar.zst');
    const before = await all();
    // Act: dry run
    const dry = await applyRetention(s3.client, { bucket: BUCKET, fleet, now, dryRun: true });
    // Assess
    expect(await all()).toEqual(before);
    const plan = dry.find((r) => r.hostPrefix === 'backups/web/i-1/')!.decisions.filter((d) => d.action === 'delete').map((d) => d.prefix);
    expect(plan).toEqual(['backups/web/i-1/20261119T020000Z/', 'backups/web/i-1/20261118T020000Z/', 'backups/web/i-1/20261101T020000Z/']);
    // i-2 has no verified run at all: nothing of it may go
    expect(dry.find((r) => r.hostPrefix === 'backups/web/i-2/')!.decisions.every((d) => d.action === 'keep')).toBe(true);
    // Act: for real
    const real = await applyRetention(s3.client, { bucket: BUCKET, fleet, now, dryRun: false });
    // Assess
    expect(real.find((r) => r.hostPrefix === 'backups/web/i-1/')!.deletedObjects).toBe(7);
    const after = await all();
    expect(after.filter((k) => k.startsWith('backups/web/i-1/')).map((k) => k.split('/')[3]).filter((v, i, a) => a.indexOf(v) === i)).toEqual(['20261120T020000Z', '20261121T020000Z']);
    expect(after).toContain('backups/web/i-2/20261121T020000Z/v.tar.zst');
    expect(after).toContain('backups/old-stack/i-9/20200101T000000Z/v.tar.zst');
  });
});

describe('applyRetention with differentials', () => {
  it('keeps the full that kept differentials build on, and deletes an older full only after its differentials', async () => {
    // Prepare: full A (15th), differential on A (16th), full B (17th), differentials on B (18th, 19th)
    const run = (day: string) => `backups/web/i-3/202611${day}T020000Z`;
    for (const day of ['15', '16', '17', '18', '19']) {
      for (const f of ['v.tar.zst', 'manifest.json', 'verified.json']) await put(`${run(day)}/${f}`);
    }
    for (const [day, base] of [['16', '15'], ['18', '17'], ['19', '17']] as const) await put(`${run(day)}/depends-on/202611${base}T020000Z`);
    const deletes: string[][] = [];
    const recording = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
    recording.middlewareStack.add((next, context) => async (args) => {
      const input = args.input as { Delete?: { Objects?: { Key?: string }[] } };
      if (context.commandName === 'DeleteObjectsCommand') deletes.push(input.Delete!.Objects!.map((o) => o.Key!));
      return next(args);
    }, { step: 'initialize' });
    // Act
    const [report] = (await applyRetention(recording, { bucket: BUCKET, fleet, now, dryRun: false })).filter((r) => r.hostPrefix === 'backups/web/i-3/');
    // Assess: the last 2 are kept, and the full they build on; A and its differential go, the differential first
    const d = new Map(report!.decisions.map((x) => [x.prefix, x]));
    expect(d.get(`${run('17')}/`)).toMatchObject({ action: 'keep', reasons: expect.arrayContaining([`base of ${run('18')}/`]) });
    expect([...d.values()].filter((x) => x.action === 'delete').map((x) => x.prefix).sort()).toEqual([`${run('15')}/`, `${run('16')}/`]);
    const i3 = deletes.map((batch) => batch.filter((k) => k.startsWith('backups/web/i-3/'))).filter((b) => b.length);
    expect(i3.map((b) => [...new Set(b.map((k) => k.split('/')[3]))])).toEqual([['20261116T020000Z'], ['20261115T020000Z']]);
    recording.destroy();
    expect((await all()).filter((k) => k.startsWith('backups/web/i-3/')).map((k) => k.split('/')[3]).filter((v, i, a) => a.indexOf(v) === i)).toEqual(['20261117T020000Z', '20261118T020000Z', '20261119T020000Z']);
  });
});
