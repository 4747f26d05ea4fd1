/**
 * An S3 endpoint that accepts uploads and discards the bytes: PutObject, CreateMultipartUpload,
 * UploadPart, CompleteMultipartUpload, AbortMultipartUpload and ListObjectsV2 (keys with the
 * sizes received, so backup.sh's size check passes), enough for the AWS CLI. Path-style and
 * virtual-hosted requests. It lets the bench time the pipeline without a local S3 server
 * writing every byte to disk on the same cores.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

const xml = (body: string) => `<?xml version="1.0" encoding="UTF-8"?>\n${body}`;
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const ETAG = '"d41d8cd98f00b204e9800998ecf8427e"';

/** Reads and drops the body; resolves with the payload size (decoded size for aws-chunked). */
function drain(req: IncomingMessage): Promise<number> {
  return new Promise((resolve, reject) => {
    let n = 0;
    req.on('data', (d: Buffer) => (n += d.length));
    req.on('end', () => {
      const decoded = req.headers['x-amz-decoded-content-length'];
      resolve(decoded ? Number(decoded) : n);
    });
    req.on('error', reject);
  });
}

export interface Sink { endpoint: string; bytesReceived: () => number; stop: () => Promise<void> }

export async function startSink(port = 0): Promise<Sink> {
  const sizes = new Map<string, number>(); // bucket/key -> bytes
  const parts = new Map<string, { key: string; parts: Map<number, number> }>();
  let received = 0;
  let next = 0;
  const server: Server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://sink');
      const hostBucket = (req.headers.host ?? '').match(/^([^.:]+)\.[^:]+/)?.[1];
      const path = decodeURIComponent(url.pathname).replace(/^\//, '');
      const [bucket, key] = hostBucket && !/^\d+$/.test(hostBucket) ? [hostBucket, path] : [path.split('/')[0]!, path.split('/').slice(1).join('/')];
      const q = url.searchParams;
      const send = (status: number, body = '', headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/xml', ...headers });
        res.end(body);
      };
      if (req.method === 'PUT' && q.has('uploadId')) {
        const n = await drain(req);
        received += n;
        parts.get(q.get('uploadId')!)?.parts.set(Number(q.get('partNumber')), n);
        return send(200, '', { etag: ETAG });
      }
      if (req.method === 'PUT') {
        const n = await drain(req);
        received += n;
        sizes.set(`${bucket}/${key}`, n);
        return send(200, '', { etag: ETAG });
      }
      if (req.method === 'POST' && q.has('uploads')) {
        await drain(req);
        const id = `upload-${++next}`;
        parts.set(id, { key: `${bucket}/${key}`, parts: new Map() });
        return send(200, xml(`<InitiateMultipartUploadResult><Bucket>${esc(bucket)}</Bucket><Key>${esc(key)}</Key><UploadId>${id}</UploadId></InitiateMultipartUploadResult>`));
      }
      if (req.method === 'POST' && q.has('uploadId')) {
        await drain(req);
        const up = parts.get(q.get('uploadId')!);
        if (!up) return send(404, xml('<Error><Code>NoSuchUpload</Code><Message>no such upload</Message></Error>'));
        sizes.set(up.key, [...up.parts.values()].reduce((a, b) => a + b, 0));
        parts.delete(q.get('uploadId')!);
        return send(200, xml(`<CompleteMultipartUploadResult><Location>http://sink/${esc(up.key)}</Location><Bucket>${esc(bucket)}</Bucket><Key>${esc(key)}</Key><ETag>${ETAG}</ETag></CompleteMultipartUploadResult>`));
      }
      if (req.method === 'DELETE' && q.has('uploadId')) {
        parts.delete(q.get('uploadId')!);
        return send(204);
      }
      if (req.method === 'GET' && !key) {
        const prefix = `${bucket}/${q.get('prefix') ?? ''}`;
        const items = [...sizes].filter(([k]) => k.startsWith(prefix)).sort(([a], [b]) => (a < b ? -1 : 1));
        const contents = items.map(([k, size]) => `<Contents><Key>${esc(k.slice(bucket.length + 1))}</Key><LastModified>${new Date().toISOString()}</LastModified><ETag>${ETAG}</ETag><Size>${size}</Size><StorageClass>STANDARD</StorageClass></Contents>`).join('');
        return send(200, xml(`<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>${esc(bucket)}</Name><Prefix>${esc(q.get('prefix') ?? '')}</Prefix><KeyCount>${items.length}</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>${contents}</ListBucketResult>`));
      }
      await drain(req);
      send(501, xml(`<Error><Code>NotImplemented</Code><Message>the sink does not answer ${esc(req.method ?? '')} ${esc(req.url ?? '')}</Message></Error>`));
    } catch (e) {
      res.writeHead(500);
      res.end(String(e));
    }
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  const { port: p } = server.address() as AddressInfo;
  return { endpoint: `http://127.0.0.1:${p}`, bytesReceived: () => received, stop: () => new Promise((r) => server.close(() => r())) };
}
