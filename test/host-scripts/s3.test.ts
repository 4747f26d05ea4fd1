/**
 * lib/host-scripts/lib/s3.sh over curl's SigV4, against s3rver behind a proxy that checks every
 * signature with the AWS SDK's signer and refuses uploads without a checksum
 * (test/support/sigv4-proxy.ts): round trips byte for byte, multipart with growing parts,
 * listings past one page, credentials from the environment, a credentials file and IMDSv2,
 * failures with S3's reason, retried parts, secrets kept out of argv and output, and the CLI
 * fallback with its own config.
 */
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checksumOf } from '../../lib/results/checksum.js';
import { startS3 } from '../support/aws-local.js';
import { startSigV4Proxy, type SigV4Proxy } from '../support/sigv4-proxy.js';

const BUCKET = 's3sh-bucket';
const ENV_CREDS = { accessKeyId: 'AKIAENVENVENVENVENV1', secretAccessKey: 'env/Secret+Key=fromTheEnvironment0001' };
const FILE_CREDS = { accessKeyId: 'AKIAFILEFILEFILEFIL2', secretAccessKey: 'file/Secret+Key=fromTheCredentialsFile2' };
const TOKEN_CREDS = { accessKeyId: 'ASIATOKENTOKENTOKEN3', secretAccessKey: 'token/Secret+Key=withASessionToken33333', sessionToken: 'FwoGZXIvYXdzEJr//////////token+with/slashes==' };
const IMDS_CREDS = { accessKeyId: 'ASIAIMDSIMDSIMDSIMD4', secretAccessKey: 'imds/Secret+Key=fromTheInstanceRole444', sessionToken: 'IQoJb3JpZ2luX2VjEImds//token+4==' };
const EXPIRED = { accessKeyId: 'ASIAEXPIREDEXPIRED05', secretAccessKey: 'expired/Secret+Key=5', expired: true };
const SECRETS = [ENV_CREDS, FILE_CREDS, TOKEN_CREDS, IMDS_CREDS].flatMap((c) => [c.secretAccessKey, ...('sessionToken' in c ? [c.sessionToken] : [])]);

let s3: Awaited<ReturnType<typeof startS3>>;
let proxy: SigV4Proxy;
let dir: string;
let imds: Server;
let imdsEndpoint: string;
const imdsCalls: string[] = [];

beforeAll(async () => {
  s3 = await startS3([BUCKET]);
  proxy = await startSigV4Proxy(s3.endpoint, [ENV_CREDS, FILE_CREDS, TOKEN_CREDS, IMDS_CREDS, EXPIRED]);
  dir = mkdtempSync(join(tmpdir(), 's3sh-'));
  // A fake IMDSv2: a token from PUT, then the role and its credentials only with that token.
  imds = createServer((req, res) => {
    imdsCalls.push(`${req.method} ${req.url}`);
    if (req.method === 'PUT' && req.url === '/latest/api/token' && req.headers['x-aws-ec2-metadata-token-ttl-seconds']) return res.end('imds-session-token');
    if (req.headers['x-aws-ec2-metadata-token'] !== 'imds-session-token') return res.writeHead(401).end();
    if (req.url === '/latest/meta-data/iam/security-credentials/') return res.end('shipshape-host-role');
    if (req.url === '/latest/meta-data/iam/security-credentials/shipshape-host-role') {
      return res.end(JSON.stringify({ Code: 'Success', Type: 'AWS-HMAC', AccessKeyId: IMDS_CREDS.accessKeyId, SecretAccessKey: IMDS_CREDS.secretAccessKey, Token: IMDS_CREDS.sessionToken, Expiration: '2099-01-01T00:00:00Z' }));
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => imds.listen(0, '127.0.0.1', r));
  imdsEndpoint = `http://127.0.0.1:${(imds.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await proxy.stop();
  await s3.stop();
  imds.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Run { status: number | null; stdout: Buffer; stderr: string }

/** Runs a snippet after sourcing common.sh and s3.sh; args are $1.. (no quoting in the snippet). */
function s3sh(snippet: string, args: string[], env: Record<string, string> = {}, input?: Buffer): Promise<Run> {
  const script = `set -euo pipefail; export LC_ALL=C; . lib/host-scripts/lib/common.sh; . lib/host-scripts/lib/s3.sh; ${snippet}`;
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', script, 's3sh', ...args], {
      env: { PATH: process.env.PATH!, HOME: dir, BUCKET, SHIPSHAPE_S3_ENDPOINT: proxy.endpoint, AWS_REGION: 'us-east-1', AWS_EC2_METADATA_SERVICE_ENDPOINT: 'http://127.0.0.1:9', SHIPSHAPE_S3_TRANSPORT: 'curl', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? Buffer.alloc(0));
    child.on('close', (status) => resolve({ status, stdout: Buffer.concat(out), stderr }));
  });
}
const envCreds = { AWS_ACCESS_KEY_ID: ENV_CREDS.accessKeyId, AWS_SECRET_ACCESS_KEY: ENV_CREDS.secretAccessKey };
const put = (key: string, body: Buffer, env: Record<string, string> = envCreds, hint?: number) => s3sh(`s3_put "$1" ${hint ?? ''}`, [key], env, body);
const get = (key: string, env: Record<string, string> = envCreds) => s3sh('s3_get "$1"', [key], env);
const stored = async (key: string) => Buffer.from(await (await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body!.transformToByteArray());
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
/** S3's composite SHA-256 of <b> uploaded in parts of <partBytes>. */
const composite = (b: Buffer, partBytes: number) => {
  const digests: Buffer[] = [];
  for (let at = 0; at < b.length; at += partBytes) digests.push(createHash('sha256').update(b.subarray(at, at + partBytes)).digest());
  return createHash('sha256').update(Buffer.concat(digests)).digest('hex');
};
/** The requests the proxy saw for one key, from `from` on. */
const requestsFor = (key: string, from: number) => proxy.seen.slice(from).filter((r) => decodeURIComponent(r.url.split('?')[0]!) === `/${BUCKET}/${key}`);

describe('s3.sh over curl', () => {
  it.each([
    ['an empty stream', 0, 1],
    ['one byte', 1, 1],
    ['exactly one part', 64 * 1024, 1],
    ['three parts and a bit', 3 * 64 * 1024 + 17, 4],
  ])('puts and gets %s byte for byte, signed and checksummed', async (_name, bytes, uploads) => {
    // Prepare
    const body = randomBytes(bytes);
    const key = `round/${bytes}.bin`;
    const from = proxy.seen.length;
    // Act
    const up = await put(key, body, { ...envCreds, SHIPSHAPE_S3_PART_BYTES: String(64 * 1024) });
    const down = await get(key);
    // Assess
    expect(up.status, up.stderr).toBe(0);
    expect(down.status, down.stderr).toBe(0);
    expect(sha(await stored(key))).toBe(sha(body));
    expect(sha(down.stdout)).toBe(sha(body));
    const puts = requestsFor(key, from).filter((r) => r.method === 'PUT');
    expect(puts).toHaveLength(uploads);
    for (const r of puts) expect(r.headers['x-amz-checksum-sha256']).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(requestsFor(key, from).every((r) => r.status < 300)).toBe(true);
  });

  it.each([
    ['an empty stream', 0, 1024, null],
    ['one part, read with head (a part size that is no multiple of 64 KiB)', 1000, 1024, null],
    ['many parts, read with head', 5 * 1024 + 3, 1024, '1024x6'],
    ['many parts, read with dd', 3 * 64 * 1024 + 17, 64 * 1024, '65536x4'],
  ])('reports the checksum and size of %s from the same read as the upload', async (_name, bytes, partBytes, layout) => {
    // Prepare
    const body = randomBytes(bytes);
    const key = `sums/${bytes}-${partBytes}.bin`;
    // Act
    const up = await s3sh('s3_put "$1" "" "$2" && cat "$2"', [key, join(dir, `sums-${bytes}-${partBytes}`)], { ...envCreds, SHIPSHAPE_S3_PART_BYTES: String(partBytes), SHIPSHAPE_S3_MAX_PARTS: '100' }, body);
    // Assess: one part's is its SHA-256; more parts' is S3's composite (the SHA-256 of the parts' SHA-256 digests) and the layout
    expect(up.status, up.stderr).toBe(0);
    expect(up.stdout.toString()).toBe(`${layout ? `${composite(body, partBytes)}-${layout}` : sha(body)} ${bytes}\n`);
    expect(sha(await stored(key))).toBe(sha(body));
  });

  it('computes the composite from digests with zero bytes and newlines in them (they go to the hash as bytes)', async () => {
    // Prepare: digests holding 00 and 0a bytes, which a shell string would drop or split at
    const digests = ['00ff00aa0a00000a'.repeat(4), createHash('sha256').update('x').digest('hex'), '0'.repeat(64)];
    // Act
    const got = await s3sh('s3_composite', [], envCreds, Buffer.from(`${digests.join('\n')}\n`));
    // Assess
    expect(got.status, got.stderr.toString()).toBe(0);
    expect(got.stdout.toString()).toBe(createHash('sha256').update(Buffer.concat(digests.map((d) => Buffer.from(d, 'hex')))).digest('hex'));
  });

  it('reports the layout of parts that grow, as runs of one size', async () => {
    // Prepare: parts of 1 KiB that double every second part (S3_MAX_PARTS 20: a tenth is 2)
    const body = randomBytes(1024 * 2 + 2048 * 2 + 100);
    const sums = join(dir, 'sums-grow');
    // Act
    const up = await s3sh('s3_put "$1" "" "$2" && cat "$2"', ['sums/grow.bin', sums], { ...envCreds, SHIPSHAPE_S3_PART_BYTES: '1024', SHIPSHAPE_S3_MAX_PARTS: '20' }, body);
    // Assess
    expect(up.status, up.stderr).toBe(0);
    const parts = [body.subarray(0, 1024), body.subarray(1024, 2048), body.subarray(2048, 4096), body.subarray(4096, 6144), body.subarray(6144)];
    const want = createHash('sha256').update(Buffer.concat(parts.map((p) => createHash('sha256').update(p).digest()))).digest('hex');
    expect(up.stdout.toString()).toBe(`${want}-1024x2+2048x2+4096x1 ${body.length}\n`);
    expect(checksumOf(await stored('sums/grow.bin'), `${want}-1024x2+2048x2+4096x1`)).toBe(`${want}-1024x2+2048x2+4096x1`);
  });

  it('puts and gets in parts without bash 5\'s EPOCHSECONDS (RHEL 8 and its rebuilds ship bash 4.4)', async () => {
    // Prepare: bash 5 forgets the variables' special meaning once they are unset, as bash 4 never had it
    const body = randomBytes(3 * 64 * 1024 + 5);
    const key = 'bash4/parts.bin';
    const env = { ...envCreds, SHIPSHAPE_S3_PART_BYTES: String(64 * 1024) };
    // Act
    const up = await s3sh('unset EPOCHSECONDS EPOCHREALTIME; s3_put "$1"', [key], env, body);
    const down = await s3sh('unset EPOCHSECONDS EPOCHREALTIME; s3_get "$1"', [key], env);
    // Assess
    expect(up.status, up.stderr).toBe(0);
    expect(down.status, down.stderr).toBe(0);
    expect(sha(await stored(key))).toBe(sha(body));
    expect(sha(down.stdout)).toBe(sha(body));
  });

  it('fails when the composite hash fails, aborts the upload and reports no sums', async () => {
    // Prepare: an openssl that fails when it reads a pipe (the parts' digests), not a part file
    const bin = mkdtempSync(join(tmpdir(), 's3sh-bin-'));
    writeFileSync(join(bin, 'openssl'), `#!/bin/bash\nif [ -p /dev/stdin ]; then echo 'hash broke' >&2; exit 3; fi\nPATH=${process.env.PATH}\nexec openssl "$@"\n`);
    chmodSync(join(bin, 'openssl'), 0o755);
    const sums = join(dir, 'sums-broken');
    const from = proxy.seen.length;
    // Act
    const up = await s3sh('s3_put "$1" "" "$2"', ['sums/broken.bin', sums], { ...envCreds, PATH: `${bin}:${process.env.PATH}`, SHIPSHAPE_S3_PART_BYTES: String(64 * 1024) }, randomBytes(3 * 64 * 1024));
    // Assess
    expect(up.status).not.toBe(0);
    expect(up.stderr).toContain('the composite SHA-256 of its 3 parts (openssl) failed');
    expect(requestsFor('sums/broken.bin', from).some((r) => r.method === 'DELETE' && r.url.includes('uploadId=')), up.stderr).toBe(true);
    await expect(stored('sums/broken.bin')).rejects.toThrow();
    expect(() => readFileSync(sums)).toThrow();
  });

  it('fails when the CLI transport is asked for sums it cannot give', async () => {
    // Act
    const up = await s3sh('s3_put "$1" "" "$2"', ['sums/cli.bin', join(dir, 'sums-cli')], { ...envCreds, SHIPSHAPE_S3_TRANSPORT: 'cli' }, Buffer.from('x'));
    // Assess
    expect(up.status).not.toBe(0);
    expect(up.stderr).toContain('a sums file needs the curl transport');
  });

  it('grows the parts so that few parts hold a long stream, byte for byte', async () => {
    // Prepare: parts of 1 KiB doubling at every part (10 parts at most hold 1023 KiB)
    const body = randomBytes(300 * 1024 + 5);
    const from = proxy.seen.length;
    // Act
    const up = await put('grow/stream.bin', body, { ...envCreds, SHIPSHAPE_S3_PART_BYTES: '1024', SHIPSHAPE_S3_MAX_PARTS: '10' });
    // Assess
    expect(up.status, up.stderr).toBe(0);
    expect(sha(await stored('grow/stream.bin'))).toBe(sha(body));
    const parts = requestsFor('grow/stream.bin', from).filter((r) => r.method === 'PUT').map((r) => r.bytes);
    expect(parts).toEqual([1, 2, 4, 8, 16, 32, 64, 128].map((k) => k * 1024).concat([300 * 1024 + 5 - 255 * 1024]));
  });

  it('fails when the stream is larger than the parts can hold, and aborts the upload', async () => {
    // Prepare
    const body = randomBytes(1023 * 1024 + 1);
    const from = proxy.seen.length;
    // Act
    const up = await put('grow/too-big.bin', body, { ...envCreds, SHIPSHAPE_S3_PART_BYTES: '1024', SHIPSHAPE_S3_MAX_PARTS: '10' });
    // Assess
    expect(up.status).not.toBe(0);
    expect(up.stderr).toContain('larger than 10 parts hold');
    expect(requestsFor('grow/too-big.bin', from).some((r) => r.method === 'DELETE' && r.url.includes('uploadId='))).toBe(true);
    await expect(stored('grow/too-big.bin')).rejects.toThrow();
  });

  it('starts with parts that hold the expected size in a tenth of the parts', async () => {
    // Prepare
    const body = randomBytes(200 * 1024);
    const from = proxy.seen.length;
    // Act: 1 KiB parts would need 8; a 3 MB hint makes the first part big enough
    const up = await put('hint/stream.bin', body, { ...envCreds, SHIPSHAPE_S3_PART_BYTES: '1024', SHIPSHAPE_S3_MAX_PARTS: '10' }, 3_000_000);
    // Assess
    expect(up.status, up.stderr).toBe(0);
    expect(requestsFor('hint/stream.bin', from).filter((r) => r.method === 'PUT').map((r) => r.bytes)).toEqual([200 * 1024]);
    expect(sha(await stored('hint/stream.bin'))).toBe(sha(body));
  });

  it('lists keys with spaces, unicode and XML characters, with their sizes', async () => {
    // Prepare
    const keys = ['odd/a key with spaces.txt', 'odd/ünïcødé-日本.bin', 'odd/x&y<z>"q\'.txt', 'odd/plus+equals=.txt'];
    for (const [i, k] of keys.entries()) expect((await put(k, Buffer.alloc(i + 1, 7))).status).toBe(0);
    // Act
    const listed = await s3sh('s3_keys "$1"; echo ---; s3_sizes "$1"', ['odd/'], envCreds);
    const back = await get(keys[1]!);
    // Assess
    expect(listed.status, listed.stderr).toBe(0);
    const [names, sizes] = listed.stdout.toString('utf8').split('---\n');
    expect(names!.trim().split('\n').sort()).toEqual([...keys].sort());
    expect(sizes!.trim().split('\n').sort()).toEqual(keys.map((k, i) => `${k}\t${i + 1}`).sort());
    expect(back.stdout).toEqual(Buffer.alloc(2, 7));
  });

  it('lists more than one page (s3rver pages at 1000 keys)', async () => {
    // Prepare
    await Promise.all(Array.from({ length: 1005 }, (_, i) => s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `many/k-${String(i).padStart(4, '0')}`, Body: 'x' }))));
    // Act
    const listed = await s3sh('s3_keys "$1"', ['many/'], envCreds);
    // Assess
    expect(listed.status, listed.stderr).toBe(0);
    const keys = listed.stdout.toString().trim().split('\n');
    expect(keys).toHaveLength(1005);
    expect(new Set(keys).size).toBe(1005);
  });

  it('takes credentials from the shared credentials file, profile AWS_PROFILE', async () => {
    // Prepare
    const file = join(dir, 'credentials');
    writeFileSync(file, `[default]\naws_access_key_id = AKIAWRONGWRONGWRONG0\naws_secret_access_key = nope\n\n[ shipshape ]\r\naws_access_key_id=${FILE_CREDS.accessKeyId}\r\n  aws_secret_access_key = ${FILE_CREDS.secretAccessKey}  \r\n`, { mode: 0o600 });
    // Act
    const r = await s3sh('echo "$S3_CREDS_FROM"; printf data | s3_put "$1" && s3_get "$1"', ['creds/file.txt'], { AWS_SHARED_CREDENTIALS_FILE: file, AWS_PROFILE: 'shipshape' });
    // Assess
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.toString()).toBe('file\ndata');
  });

  it('takes credentials and a session token from IMDSv2', async () => {
    // Prepare
    imdsCalls.length = 0;
    // Act
    const r = await s3sh('echo "$S3_CREDS_FROM"; printf data | s3_put "$1" && s3_get "$1"', ['creds/imds.txt'], { AWS_EC2_METADATA_SERVICE_ENDPOINT: imdsEndpoint });
    // Assess
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.toString()).toBe('imds\ndata');
    expect(imdsCalls).toEqual(['PUT /latest/api/token', 'GET /latest/meta-data/iam/security-credentials/', 'GET /latest/meta-data/iam/security-credentials/shipshape-host-role']);
  });

  it('sends a session token from the environment', async () => {
    // Act
    const r = await s3sh('printf data | s3_put "$1" && s3_get "$1"', ['creds/token.txt'], { AWS_ACCESS_KEY_ID: TOKEN_CREDS.accessKeyId, AWS_SECRET_ACCESS_KEY: TOKEN_CREDS.secretAccessKey, AWS_SESSION_TOKEN: TOKEN_CREDS.sessionToken });
    // Assess
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.toString()).toBe('data');
  });

  it('fails when the secret is wrong, with S3\'s reason', async () => {
    // Act
    const up = await put('creds/wrong.txt', Buffer.from('x'), { AWS_ACCESS_KEY_ID: ENV_CREDS.accessKeyId, AWS_SECRET_ACCESS_KEY: 'not-the-secret' });
    const list = await s3sh('s3_keys "$1"', ['creds/'], { AWS_ACCESS_KEY_ID: ENV_CREDS.accessKeyId, AWS_SECRET_ACCESS_KEY: 'not-the-secret' });
    // Assess
    expect(up.status).not.toBe(0);
    expect(up.stderr).toContain('HTTP 403 SignatureDoesNotMatch');
    expect(list.status).not.toBe(0);
    expect(list.stderr).toContain('SignatureDoesNotMatch');
  });

  it('fails when the credentials have expired, with S3\'s reason', async () => {
    // Act
    const r = await s3sh('s3_get "$1"', ['round/1.bin'], { AWS_ACCESS_KEY_ID: EXPIRED.accessKeyId, AWS_SECRET_ACCESS_KEY: EXPIRED.secretAccessKey });
    // Assess
    expect(r.status).not.toBe(0);
    expect(r.stdout.length).toBe(0);
    expect(r.stderr).toContain('HTTP 400 ExpiredToken');
  });

  it('fails when a key is missing, naming it', async () => {
    // Act
    const r = await get('no/such/key');
    // Assess
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('download of no/such/key: HTTP 404 NoSuchKey');
  });

  it('fails when curl is asked for and no credentials resolve, and auto falls back to the CLI', async () => {
    // Act
    const forced = await s3sh('printf x | s3_put "$1"', ['creds/none.txt'], { AWS_EC2_METADATA_DISABLED: 'true' });
    const auto = await s3sh('echo "$S3_TRANSPORT"', [], { SHIPSHAPE_S3_TRANSPORT: 'auto' });
    const autoWithCreds = await s3sh('echo "$S3_TRANSPORT"', [], { ...envCreds, SHIPSHAPE_S3_TRANSPORT: 'auto' });
    // Assess
    expect(forced.status).not.toBe(0);
    expect(forced.stderr).toContain('S3 over curl: no credentials in the environment, the shared credentials file or the instance metadata');
    expect(auto.stdout.toString()).toBe('cli\n');
    expect(autoWithCreds.stdout.toString()).toBe('curl\n');
  });

  it('falls back to the CLI when curl is older than 7.88 (it signs uploads as if empty), and fails when curl is forced', async () => {
    // Prepare: a curl that reports Ubuntu 22.04's version
    const bin = mkdtempSync(join(tmpdir(), 's3sh-oldcurl-'));
    writeFileSync(join(bin, 'curl'), '#!/bin/sh\necho "curl 7.81.0 (x86_64-pc-linux-gnu) libcurl/7.81.0"\n', { mode: 0o755 });
    const env = { ...envCreds, PATH: `${bin}:${process.env.PATH}` };
    // Act
    const auto = await s3sh('echo "$S3_TRANSPORT $S3_TOOL"', [], { ...env, SHIPSHAPE_S3_TRANSPORT: 'auto' });
    const forced = await s3sh('printf x | s3_put "$1"', ['old/curl.txt'], env);
    // Assess
    expect(auto.stdout.toString()).toBe('cli aws\n');
    expect(forced.status).not.toBe(0);
    expect(forced.stderr).toContain('S3 over curl: curl 7.81 cannot sign uploads for S3 (needs 7.88)');
    rmSync(bin, { recursive: true, force: true });
  });

  it('retries a part answered with HTTP 503 or 500', async () => {
    // Prepare
    const body = randomBytes(3 * 64 * 1024);
    const from = proxy.seen.length;
    proxy.failNext(2, 503);
    // Act
    const up = await put('retry/parts.bin', body, { ...envCreds, SHIPSHAPE_S3_PART_BYTES: String(64 * 1024) });
    // Assess
    expect(up.status, up.stderr).toBe(0);
    expect(requestsFor('retry/parts.bin', from).filter((r) => r.status === 503)).toHaveLength(2);
    expect(sha(await stored('retry/parts.bin'))).toBe(sha(body));
  });

  it('fails when S3 keeps answering 500, with the reason, and aborts the upload', async () => {
    // Prepare
    const from = proxy.seen.length;
    proxy.failNext(50, 500);
    // Act: a second between retries instead of curl's back-off (1 + 2 + 4 + 8 s)
    const up = await put('retry/broken.bin', randomBytes(3 * 64 * 1024), { ...envCreds, SHIPSHAPE_S3_PART_BYTES: String(64 * 1024), SHIPSHAPE_S3_RETRY_DELAY_SECONDS: '1' });
    proxy.failNext(0, 500);
    // Assess
    expect(up.status).not.toBe(0);
    expect(up.stderr).toContain('HTTP 500 InternalError');
    expect(requestsFor('retry/broken.bin', from).some((r) => r.method === 'DELETE')).toBe(true);
  }, 60_000);

  it('keeps every secret out of curl\'s argv and out of the output', async () => {
    // Prepare: a curl in front of the real one that records its argv
    const bin = mkdtempSync(join(tmpdir(), 's3sh-bin-'));
    const log = join(bin, 'argv.log');
    writeFileSync(join(bin, 'curl'), `#!/bin/bash\nprintf '%s\\n' "$*" >> "${log}"\ncat /proc/$$/cmdline >> "${log}"\nPATH=${process.env.PATH}\nexec curl "$@"\n`);
    chmodSync(join(bin, 'curl'), 0o755);
    const env = { PATH: `${bin}:${process.env.PATH}` };
    // Act
    const runs = [
      await s3sh('s3_put "$1" && s3_get "$1" > /dev/null && s3_keys creds/', ['creds/argv.bin'], { ...env, ...envCreds, SHIPSHAPE_S3_PART_BYTES: String(64 * 1024) }, randomBytes(200 * 1024)),
      await s3sh('printf x | s3_put "$1"', ['creds/argv2.txt'], { ...env, AWS_ACCESS_KEY_ID: TOKEN_CREDS.accessKeyId, AWS_SECRET_ACCESS_KEY: TOKEN_CREDS.secretAccessKey, AWS_SESSION_TOKEN: TOKEN_CREDS.sessionToken }),
      await s3sh('printf x | s3_put "$1"', ['creds/argv3.txt'], { ...env, AWS_EC2_METADATA_SERVICE_ENDPOINT: imdsEndpoint }),
    ];
    // Assess
    const argv = readFileSync(log, 'utf8');
    expect(argv).toContain('--aws-sigv4');
    expect(argv).toContain('latest/api/token');
    for (const r of runs) expect(r.status, r.stderr).toBe(0);
    for (const secret of [...SECRETS, 'imds-session-token']) {
      expect(argv).not.toContain(secret);
      for (const r of runs) expect(r.stdout.toString('latin1') + r.stderr).not.toContain(secret);
    }
    rmSync(bin, { recursive: true, force: true });
  });
});

describe('s3.sh over the AWS CLI', () => {
  it('writes the CLI a private config with the profile\'s region and bounded memory, and passes the size hint', async () => {
    // Prepare: an aws that shows its config and argv
    const bin = mkdtempSync(join(tmpdir(), 's3sh-aws-'));
    writeFileSync(join(bin, 'aws'), '#!/bin/bash\nstat -c %a "$AWS_CONFIG_FILE"\ncat "$AWS_CONFIG_FILE"\necho "argv: $*"\ncat > /dev/null\n');
    chmodSync(join(bin, 'aws'), 0o755);
    const config = join(dir, 'config');
    writeFileSync(config, '[default]\nregion = eu-west-3\ns3 =\n  max_concurrent_requests = 20\n[profile other]\nregion = us-west-2\n');
    // Act
    const r = await s3sh('printf x | s3_put "$1" 12345', ['cli/key'], { PATH: `${bin}:${process.env.PATH}`, SHIPSHAPE_S3_TRANSPORT: 'cli', AWS_CONFIG_FILE: config });
    // Assess
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.toString()).toBe(`600\n[default]\ns3 =\n  multipart_chunksize = 5MB\n  max_concurrent_requests = 2\n  max_queue_size = 1\n  payload_signing_enabled = false\nregion = eu-west-3\n[profile other]\nregion = us-west-2\n`
      + `argv: --endpoint-url ${proxy.endpoint} s3 cp - s3://${BUCKET}/cli/key --only-show-errors --no-progress --expected-size 12345\n`);
  });

  it('round-trips through the real AWS CLI against s3rver', async () => {
    // Prepare
    const body = randomBytes(70 * 1024);
    const cli = { PATH: `/usr/bin:${process.env.PATH}`, SHIPSHAPE_S3_TRANSPORT: 'cli', SHIPSHAPE_S3_ENDPOINT: s3.endpoint, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };
    // Act
    const up = await put('cli/real.bin', body, cli);
    const down = await get('cli/real.bin', cli);
    const sizes = await s3sh('s3_sizes cli/real', [], cli);
    // Assess
    expect(up.status, up.stderr).toBe(0);
    expect(sha(down.stdout)).toBe(sha(body));
    expect(sizes.stdout.toString()).toBe(`cli/real.bin\t${body.length}\n`);
  }, 60_000);
});
