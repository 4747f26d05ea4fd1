/**
 * The bench's own instruments: the discarding S3 sink answers the AWS CLI like S3 (multipart
 * upload, the listing backup.sh checks sizes with), the process-tree sampler counts children's
 * memory, and paired runs rotate the order and take ratios within each round.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { paired, ratio, spread } from '../../bench/support/paired.js';
import { measureBash } from '../../bench/support/process-tree.js';
import { startSink, type Sink } from '../../bench/support/s3-sink.js';

describe('the discarding S3 sink', () => {
  let sink: Sink;
  beforeAll(async () => { sink = await startSink(); });
  afterAll(() => sink.stop());

  it('takes a multipart upload and a small one from the AWS CLI, and lists their sizes', async () => {
    // Prepare
    expect(existsSync('/usr/bin/aws'), 'the AWS CLI must be installed').toBe(true);
    const env = { ...process.env, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_DEFAULT_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true', E: sink.endpoint };
    // Act: 20 MiB from stdin (three parts of 8 MiB), then 3 bytes (one PutObject)
    // (asynchronously: the sink answers from this process)
    const { stdout: listed } = await promisify(execFile)('bash', ['-c', `set -euo pipefail
      head -c 20971520 /dev/zero | /usr/bin/aws --endpoint-url "$E" s3 cp - s3://b/run/big.tar.zst --only-show-errors
      printf abc | /usr/bin/aws --endpoint-url "$E" s3 cp - s3://b/run/small --only-show-errors
      /usr/bin/aws --endpoint-url "$E" s3api list-objects-v2 --bucket b --prefix run/ --query 'Contents[].[Key,Size]' --output text`], { env, encoding: 'utf8' });
    // Assess
    expect(listed.trim().split('\n')).toEqual(['run/big.tar.zst\t20971520', 'run/small\t3']);
    expect(await sink.bytesReceived()).toBe(20971523);
  });
});

describe('measure', () => {
  it('counts the memory of the whole process tree, children included', async () => {
    // Act: a child of a child holds 64 MiB
    const m = await measureBash(`python3 -c 'import time; b = bytearray(64 * 1024 * 1024); b[::4096] = b"x" * len(b[::4096]); time.sleep(0.6)' & wait`, process.env);
    // Assess
    expect(m.peakRssMB).toBeGreaterThan(64);
  });

  it('fails when the command fails, with its standard error', async () => {
    await expect(measureBash('echo broken >&2; exit 3', process.env)).rejects.toThrow(/failed \(3\): broken/);
  });

  it('records the host scripts\' stage markers with the time each arrived', async () => {
    const m = await measureBash(`echo 'shipshape-stage: one' >&2; sleep 0.3; echo 'shipshape-stage: two' >&2`, process.env);
    expect(m.stages.map((s) => s.name)).toEqual(['one', 'two']);
    expect(m.stages[1]!.at).toBeGreaterThan(m.stages[0]!.at);
  });
});

describe('paired', () => {
  it('runs every variant once per round in rotating order, drops the warm-up, and takes ratios within rounds', async () => {
    // Prepare: B always takes twice as long as A in the same round, whatever the round's "load"
    const order: string[] = [];
    const load = [10, 1, 5, 3];
    const variant = (name: string, factor: number) => ({ name, run: async (r: number) => { order.push(`${name}${r}`); return { seconds: load[r]! * factor, peakRssMB: 1 }; } });
    // Act
    const res = await paired([variant('A', 1), variant('B', 2)], 3, 1);
    // Assess
    expect(order).toEqual(['A0', 'B0', 'B1', 'A1', 'A2', 'B2', 'B3', 'A3']);
    expect(res.samples.A!.map((s) => s.seconds)).toEqual([1, 5, 3]);
    expect(ratio(res, 'B', 'A')).toEqual({ median: 2, min: 2, max: 2 });
  });

  it('reports the median of an even count as the mean of the middle two', () => {
    expect(spread([4, 1, 3, 2])).toEqual({ median: 2.5, min: 1, max: 4 });
  });
});
