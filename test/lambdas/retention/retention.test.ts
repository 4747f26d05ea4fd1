import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
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
