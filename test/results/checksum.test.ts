import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CHECKSUM_PATTERN, checksumOf, partLayout, s3ChecksumSha256, StreamChecksum } from '../../lib/results/checksum.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest();

describe('archive checksums (the manifest\'s sha256)', () => {
  it('reads a whole-object SHA-256 and composite layouts of one or more runs', () => {
    expect(partLayout('a'.repeat(64))).toBeNull();
    expect(partLayout(`${'a'.repeat(64)}-1024x2+2048x1`)).toEqual([{ bytes: 1024, count: 2 }, { bytes: 2048, count: 1 }]);
    for (const bad of ['A'.repeat(64), `${'a'.repeat(64)}-0x2`, `${'a'.repeat(64)}-1024x`, `${'a'.repeat(64)}-1024x2+`, 'a'.repeat(63)]) expect(bad).not.toMatch(CHECKSUM_PATTERN);
  });

  it('hashes a stream at the layout\'s boundaries however it is chunked, the last part holding the rest', () => {
    // Prepare: parts of 1024, 1024, 2048 and a last one of 2048 + 7 (it holds the rest)
    const body = randomBytes(1024 * 2 + 2048 * 2 + 7);
    const cuts = [0, 1024, 2048, 4096, body.length];
    const want = createHash('sha256').update(Buffer.concat(cuts.slice(1).map((end, i) => sha(body.subarray(cuts[i], end))))).digest('hex');
    const expected = `${want}-1024x2+2048x2`;
    // Act: in one chunk, and in chunks of 333 bytes that straddle every boundary
    const chunked = new StreamChecksum(expected);
    for (let at = 0; at < body.length; at += 333) chunked.update(body.subarray(at, at + 333));
    // Assess
    expect(checksumOf(body, expected)).toBe(expected);
    expect(chunked.digest()).toBe(expected);
    expect(checksumOf(body, 'f'.repeat(64))).toBe(sha(body).toString('hex'));
  });

  it('fails when the stream has fewer parts than the layout; bytes past the layout count in the last part', () => {
    const body = randomBytes(3000);
    const expected = `${'0'.repeat(64)}-1024x3`;
    expect(checksumOf(body.subarray(0, 1500), expected)).toBe('2 of 3 parts');
    expect(checksumOf(body, expected)).toMatch(/^[0-9a-f]{64}-1024x3$/);
    expect(checksumOf(body, expected)).not.toBe(checksumOf(body.subarray(0, 2999), expected));
  });

  it('gives the value S3 reports as ChecksumSHA256: base64, with -<parts> for a composite', () => {
    const hex = sha(Buffer.from('x')).toString('hex');
    expect(s3ChecksumSha256(hex)).toBe(sha(Buffer.from('x')).toString('base64'));
    expect(s3ChecksumSha256(`${hex}-1024x2+2048x3`)).toBe(`${sha(Buffer.from('x')).toString('base64')}-5`);
  });
});
