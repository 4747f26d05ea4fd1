/**
 * An archive's checksum as the manifest records it (Archive.sha256):
 *   <64 hex>                               the SHA-256 of the object (a single PUT, the AWS CLI's upload)
 *   <64 hex>-<bytes>x<count>[+<bytes>x<count>]
 *                                          a multipart upload: S3's composite SHA-256, the SHA-256 of
 *                                          the parts' SHA-256 digests in order, then the part layout
 *                                          (every part <bytes> long but the very last, which holds
 *                                          the rest). The host hashes each part once, for its upload
 *                                          and S3's own check of it; a reader hashes at the same
 *                                          boundaries.
 */
import { createHash, type Hash } from 'node:crypto';

export const CHECKSUM_PATTERN = /^[0-9a-f]{64}(-[1-9][0-9]*x[1-9][0-9]*(\+[1-9][0-9]*x[1-9][0-9]*)*)?$/;

export interface PartRun { readonly bytes: number; readonly count: number }

/** The part layout of a composite checksum, or null for the SHA-256 of a whole object. */
export function partLayout(checksum: string): PartRun[] | null {
  const dash = checksum.indexOf('-');
  if (dash < 0) return null;
  return checksum.slice(dash + 1).split('+').map((run) => {
    const [bytes, count] = run.split('x').map(Number);
    return { bytes: bytes!, count: count! };
  });
}

/** Hashes a stream in the form of <expected>'s checksum (whole, or at its part boundaries). */
export class StreamChecksum {
  private readonly layout: PartRun[] | null;
  private readonly whole = createHash('sha256');
  private readonly digests: Buffer[] = [];
  private part: Hash | null = null;
  private partLeft = 0;
  private run = 0;
  private runLeft = 0;

  constructor(expected: string) {
    this.layout = partLayout(expected);
    if (this.layout) this.runLeft = this.layout[0]!.count;
  }

  update(chunk: Uint8Array): void {
    if (!this.layout) { this.whole.update(chunk); return; }
    let at = 0;
    while (at < chunk.length) {
      if (!this.part) {
        if (this.runLeft === 0) {
          this.run += 1;
          this.runLeft = this.layout[this.run]!.count;
        }
        this.runLeft -= 1;
        this.part = createHash('sha256');
        // The very last part holds whatever is left.
        this.partLeft = this.run === this.layout.length - 1 && this.runLeft === 0 ? Infinity : this.layout[this.run]!.bytes;
      }
      const take = Math.min(this.partLeft, chunk.length - at);
      this.part.update(chunk.subarray(at, at + take));
      at += take;
      this.partLeft -= take;
      if (this.partLeft === 0) { this.digests.push(this.part.digest()); this.part = null; }
    }
  }

  /** The checksum in the manifest's form; a stream with fewer parts than the layout gets a description instead. */
  digest(): string {
    if (!this.layout) return this.whole.digest('hex');
    if (this.part) { this.digests.push(this.part.digest()); this.part = null; }
    const expectedParts = this.layout.reduce((n, r) => n + r.count, 0);
    if (this.digests.length !== expectedParts) return `${this.digests.length} of ${expectedParts} parts`;
    const suffix = this.layout.map((r) => `${r.bytes}x${r.count}`).join('+');
    return `${createHash('sha256').update(Buffer.concat(this.digests)).digest('hex')}-${suffix}`;
  }
}

/** The checksum of <bytes> in the form of <expected>. */
export function checksumOf(bytes: Uint8Array, expected: string): string {
  const c = new StreamChecksum(expected);
  c.update(bytes);
  return c.digest();
}

/**
 * The value S3 reports as ChecksumSHA256 (HeadObject with ChecksumMode ENABLED) for an object
 * with this checksum: base64 of the SHA-256, with "-<parts>" for a multipart upload's composite.
 */
export function s3ChecksumSha256(checksum: string): string {
  const layout = partLayout(checksum);
  const b64 = Buffer.from(checksum.slice(0, 64), 'hex').toString('base64');
  return layout ? `${b64}-${layout.reduce((n, r) => n + r.count, 0)}` : b64;
}
