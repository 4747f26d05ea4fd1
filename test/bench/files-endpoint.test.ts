/**
 * The bench's read-only S3 endpoint over a directory (bench/support/s3-files.ts): it must serve
 * restore.sh's requests (listing, whole and ranged GET) as S3 would, through curl's SigV4 client.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFiles, type FilesEndpoint } from '../../bench/support/s3-files.js';

const run = (script: string, env: Record<string, string>) => promisify(execFile)('bash', ['-c', script], { env: { ...process.env, ...env }, encoding: 'utf8' });
const CURL = 'curl -sS --aws-sigv4 aws:amz:us-east-1:s3 -u AKIA:secret';

describe('the files endpoint', () => {
  let root: string;
  let files: FilesEndpoint;
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'files-endpoint-'));
    mkdirSync(join(root, 'b', 'run', 'sub'), { recursive: true });
    writeFileSync(join(root, 'b', 'run', 'archive.tar.zst'), Buffer.alloc(5 * 1024 * 1024, 7));
    writeFileSync(join(root, 'b', 'run', 'sub', 'manifest.json'), '{"a":1}');
    writeFileSync(join(root, 'b', 'other'), 'x');
    files = await startFiles(root);
  });
  afterAll(async () => { await files.stop(); rmSync(root, { recursive: true, force: true }); });

  it('lists the keys under a prefix with their sizes, in key order', async () => {
    // Act
    const { stdout } = await run(`${CURL} "$E/b?list-type=2&prefix=run/"`, { E: files.endpoint });
    // Assess
    expect([...stdout.matchAll(/<Key>([^<]*)<\/Key><Size>(\d+)<\/Size>/g)].map((m) => [m[1], Number(m[2])])).toEqual([['run/archive.tar.zst', 5 * 1024 * 1024], ['run/sub/manifest.json', 7]]);
    expect(stdout).toContain('<IsTruncated>false</IsTruncated>');
  });

  it('serves an object whole, and one byte range of it', async () => {
    // Act
    const { stdout } = await run(`set -euo pipefail
      ${CURL} --fail "$E/b/run/archive.tar.zst" | wc -c
      ${CURL} --fail "$E/b/run/sub/manifest.json"; echo
      ${CURL} --fail -r 2-4 "$E/b/run/sub/manifest.json"`, { E: files.endpoint });
    // Assess
    expect(stdout.split('\n').slice(0, 3)).toEqual([String(5 * 1024 * 1024), '{"a":1}', 'a":']);
  });

  it('fails when the key does not exist, with S3\'s NoSuchKey, and refuses writes', async () => {
    // Act
    const { stdout: missing } = await run(`${CURL} -w ' %{http_code}' "$E/b/run/missing"`, { E: files.endpoint });
    const { stdout: put } = await run(`${CURL} -w ' %{http_code}' -X PUT --data-binary x "$E/b/run/new"`, { E: files.endpoint });
    // Assess
    expect(missing).toMatch(/<Code>NoSuchKey<\/Code>.* 404$/);
    expect(put).toMatch(/<Code>NotImplemented<\/Code>.* 501$/);
  });
});
