/**
 * A read-only S3 endpoint over a directory (<root>/<bucket>/<key>): GetObject (whole or one
 * byte range), HeadObject and ListObjectsV2 (prefix, continuation token, sizes), path-style.
 * Each GET streams the file in 4 MiB reads with no per-request work beyond a stat, so the bench
 * can time restore.sh without a local S3 server (s3rver reads its files in small chunks and
 * competes for the same cores). Signatures are not checked.
 */
import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative } from 'node:path';
import { pipeline } from 'node:stream/promises';

const xml = (body: string) => `<?xml version="1.0" encoding="UTF-8"?>\n${body}`;
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const READ_BYTES = 4 * 1024 * 1024;

function keysUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push(relative(dir, p));
    }
  };
  if (existsSync(dir)) walk(dir);
  return out.sort();
}

export interface FilesEndpoint { endpoint: string; stop: () => Promise<void> }

export async function startFiles(root: string, port = 0): Promise<FilesEndpoint> {
  const fail = (res: ServerResponse, status: number, code: string, message: string) => {
    res.writeHead(status, { 'content-type': 'application/xml' });
    res.end(xml(`<Error><Code>${code}</Code><Message>${esc(message)}</Message></Error>`));
  };
  const server: Server = createServer((req, res) => {
    void (async () => {
      req.resume();
      const url = new URL(req.url ?? '/', 'http://files');
      const [bucket = '', ...rest] = url.pathname.slice(1).split('/').map(decodeURIComponent);
      const key = rest.join('/');
      const q = url.searchParams;
      const bucketDir = join(root, bucket);
      if (!bucket || !existsSync(bucketDir)) return fail(res, 404, 'NoSuchBucket', `no bucket ${bucket}`);
      if (req.method === 'GET' && !key) {
        const prefix = q.get('prefix') ?? '';
        const after = q.get('continuation-token') ? Buffer.from(q.get('continuation-token')!, 'base64url').toString('utf8') : '';
        const keys = keysUnder(bucketDir).filter((k) => k.startsWith(prefix) && k > after);
        const page = keys.slice(0, 1000);
        const truncated = keys.length > page.length;
        const contents = page.map((k) => `<Contents><Key>${esc(k)}</Key><Size>${statSync(join(bucketDir, k)).size}</Size></Contents>`).join('');
        const token = truncated ? `<NextContinuationToken>${Buffer.from(page.at(-1)!).toString('base64url')}</NextContinuationToken>` : '';
        res.writeHead(200, { 'content-type': 'application/xml' });
        return res.end(xml(`<ListBucketResult><Name>${esc(bucket)}</Name><Prefix>${esc(prefix)}</Prefix><KeyCount>${page.length}</KeyCount><IsTruncated>${truncated}</IsTruncated>${token}${contents}</ListBucketResult>`));
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') return fail(res, 501, 'NotImplemented', `the files endpoint is read-only: ${req.method} ${req.url}`);
      const file = join(bucketDir, key);
      const st = existsSync(file) ? statSync(file) : undefined;
      if (!st?.isFile()) return fail(res, 404, 'NoSuchKey', 'The specified key does not exist.');
      const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
      const start = range ? Number(range[1]) : 0;
      const end = range && range[2] ? Math.min(Number(range[2]), st.size - 1) : st.size - 1;
      if (range && start >= st.size) return fail(res, 416, 'InvalidRange', 'The requested range is not satisfiable');
      res.writeHead(range ? 206 : 200, {
        'content-length': String(end - start + 1), 'content-type': 'application/octet-stream', 'last-modified': st.mtime.toUTCString(),
        ...(range ? { 'content-range': `bytes ${start}-${end}/${st.size}` } : {}),
      });
      if (req.method === 'HEAD' || end < start) return res.end();
      await pipeline(createReadStream(file, { start, end, highWaterMark: READ_BYTES }), res);
    })().catch((e: unknown) => {
      if (!res.headersSent) fail(res, 500, 'InternalError', String(e));
      else res.destroy();
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  const { port: p } = server.address() as AddressInfo;
  return { endpoint: `http://127.0.0.1:${p}`, stop: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}
