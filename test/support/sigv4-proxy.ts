/**
 * A SigV4-verifying front for s3rver (which does not check V4 signatures: "Signature version 4
 * calculation is unimplemented" in its authentication middleware), so that a test of a client's
 * signing proves something. For every request it:
 *   - recomputes the signature with the AWS SDK's own signer (@smithy/signature-v4) over the
 *     headers the client signed, and refuses a mismatch (403 SignatureDoesNotMatch), an unknown
 *     key (403 InvalidAccessKeyId), a missing or wrong session token (403 InvalidToken) and
 *     expired credentials (400 ExpiredToken);
 *   - requires x-amz-content-sha256 and checks it against the body unless UNSIGNED-PAYLOAD
 *     (400 XAmzContentSHA256Mismatch), as S3 does;
 *   - refuses a PutObject or UploadPart without Content-MD5 or x-amz-checksum-* (as a bucket with
 *     Object Lock does) and checks the one given (400 BadDigest);
 * then forwards it to s3rver under s3rver's own key. `failNext` answers the next uploads with an
 * HTTP error (a transient fault) before they reach s3rver.
 *
 * s3rver cannot page a ListObjectsV2 on this Node (its continuation tokens use DES, which
 * OpenSSL 3 no longer offers: HTTP 500), so the proxy asks it for a ListObjects (v1) page with a
 * marker and answers in v2's form with an opaque NextContinuationToken, 1000 keys a page.
 */
import { createHash, createHmac } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignatureV4 } from '@smithy/signature-v4';

export interface ProxyCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  /** Requests with these credentials fail with ExpiredToken. */
  readonly expired?: boolean;
}

export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly status: number;
  readonly bytes: number;
}

export interface SigV4Proxy {
  readonly endpoint: string;
  /** Every request answered, in order (refused ones included). */
  readonly seen: SeenRequest[];
  /** Answers the next `count` PUT requests with `status` (an S3 error document) without forwarding them. */
  failNext(count: number, status: number): void;
  stop(): Promise<void>;
}

type SourceData = string | ArrayBuffer | ArrayBufferView;
const bytes = (d: SourceData): Buffer => (typeof d === 'string' ? Buffer.from(d, 'utf8') : d instanceof ArrayBuffer ? Buffer.from(d) : Buffer.from(d.buffer, d.byteOffset, d.byteLength));

/** node:crypto behind the signer's Checksum interface (HMAC when given a secret). */
class NodeSha256 {
  private hash: ReturnType<typeof createHash> | ReturnType<typeof createHmac>;
  constructor(private readonly secret?: SourceData) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(data: SourceData): void {
    this.hash.update(bytes(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.hash.digest()));
  }
  reset(): void {
    this.hash = this.secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(this.secret));
  }
}

const xmlError = (code: string, message: string) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</Message></Error>`;

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** The query as S3 reads it: split on & and =, percent-decoded ('+' stays a plus). */
function parseQuery(raw: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const pair of raw.split('&').filter(Boolean)) {
    const i = pair.indexOf('=');
    const k = decodeURIComponent(i < 0 ? pair : pair.slice(0, i));
    const v = i < 0 ? '' : decodeURIComponent(pair.slice(i + 1));
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

const AUTH = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/;

/** Why the request is refused (status, code, message), or undefined when its signature and checksums hold. */
async function verify(req: IncomingMessage, body: Buffer, creds: readonly ProxyCredentials[], region: string): Promise<[number, string, string] | undefined> {
  const header = (name: string) => {
    const v = req.headers[name];
    return Array.isArray(v) ? v.join(',') : v;
  };
  const auth = header('authorization');
  if (!auth) return [403, 'AccessDenied', 'Anonymous requests are not allowed here'];
  const m = AUTH.exec(auth);
  if (!m) return [400, 'AuthorizationHeaderMalformed', `cannot read the Authorization header: ${auth.replace(/Signature=.*/, '')}`];
  const [, keyId, , credRegion, service, signedList, signature] = m;
  const cred = creds.find((c) => c.accessKeyId === keyId);
  if (!cred) return [403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.'];
  if (credRegion !== region || service !== 's3') return [400, 'AuthorizationHeaderMalformed', `the credential scope names ${credRegion}/${service}, expected ${region}/s3`];
  const signed = signedList!.split(';');
  if (cred.sessionToken !== undefined && (header('x-amz-security-token') !== cred.sessionToken || !signed.includes('x-amz-security-token'))) {
    return [403, 'InvalidToken', 'The provided token is malformed or otherwise invalid.'];
  }
  if (cred.expired) return [400, 'ExpiredToken', 'The provided token has expired.'];
  const amzDate = header('x-amz-date');
  const payloadHash = header('x-amz-content-sha256');
  if (!amzDate || !signed.includes('x-amz-date')) return [403, 'AccessDenied', 'x-amz-date must be signed'];
  if (!payloadHash) return [400, 'InvalidRequest', 'Missing required header for this request: x-amz-content-sha256'];
  if (payloadHash !== 'UNSIGNED-PAYLOAD' && payloadHash !== createHash('sha256').update(body).digest('hex')) {
    return [400, 'XAmzContentSHA256Mismatch', 'The provided x-amz-content-sha256 header does not match what was computed.'];
  }
  // The SDK's signer over exactly the headers the client signed, at the client's time.
  const headers: Record<string, string> = {};
  for (const name of signed) {
    const v = header(name);
    if (v === undefined) return [403, 'SignatureDoesNotMatch', `signed header ${name} is not in the request`];
    headers[name] = v;
  }
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const when = amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z');
  const signer = new SignatureV4({
    credentials: { accessKeyId: cred.accessKeyId, secretAccessKey: cred.secretAccessKey, ...(cred.sessionToken !== undefined ? { sessionToken: cred.sessionToken } : {}) },
    region, service: 's3', sha256: NodeSha256, uriEscapePath: false, applyChecksum: false,
  });
  const host = headers.host ?? '';
  const out = await signer.sign(
    { method: req.method ?? 'GET', protocol: 'http:', hostname: host.replace(/:\d+$/, ''), path: q < 0 ? url : url.slice(0, q), query: parseQuery(q < 0 ? '' : url.slice(q + 1)), headers, body },
    { signingDate: new Date(when) },
  );
  const expected = /Signature=([0-9a-f]{64})/.exec(String(out.headers.authorization ?? out.headers.Authorization))?.[1];
  if (expected !== signature) return [403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.'];
  // Object Lock: uploads carry a checksum of their bytes, and it is right.
  const isUpload = req.method === 'PUT' && !header('x-amz-copy-source');
  const md5 = header('content-md5');
  const sha = header('x-amz-checksum-sha256');
  const others = Object.keys(req.headers).filter((h) => h.startsWith('x-amz-checksum-') && h !== 'x-amz-checksum-sha256' && h !== 'x-amz-checksum-algorithm');
  if (isUpload && !md5 && !sha && others.length === 0) return [400, 'InvalidRequest', 'Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters'];
  if (md5 && md5 !== createHash('md5').update(body).digest('base64')) return [400, 'BadDigest', 'The Content-MD5 you specified did not match what we received.'];
  if (sha && sha !== createHash('sha256').update(body).digest('base64')) return [400, 'BadDigest', 'The SHA256 you specified did not match the calculated checksum.'];
  return undefined;
}

/** For a ListObjectsV2 of a bucket: the ListObjects (v1) request that asks s3rver for the same page, and the v2 answer made of its answer. */
function listV2(method: string, url: string): { path: string; page: (xml: string) => string } | undefined {
  const q = url.indexOf('?');
  if (method !== 'GET' || q < 0 || url.slice(1, q).includes('/')) return undefined;
  const query = parseQuery(url.slice(q + 1));
  if (query['list-type'] !== '2') return undefined;
  const size = Math.min(1000, Number(query['max-keys'] ?? 1000));
  const token = typeof query['continuation-token'] === 'string' ? Buffer.from(query['continuation-token'], 'base64url').toString('utf8') : undefined;
  const prefix = typeof query.prefix === 'string' ? query.prefix : '';
  const upstream = new URLSearchParams({ 'max-keys': String(size), prefix, ...(token ? { marker: token } : {}) });
  const unxml = (t: string) => t.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;|&#x27;|&#39;/g, "'").replace(/&amp;/g, '&');
  const esc = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return {
    path: `${url.slice(0, q)}?${upstream.toString().replace(/\+/g, '%20')}`,
    page: (xml) => {
      const contents = xml.match(/<Contents>[\s\S]*?<\/Contents>/g) ?? [];
      const truncated = /<IsTruncated>true<\/IsTruncated>/.test(xml);
      const last = contents.at(-1)?.match(/<Key>([\s\S]*?)<\/Key>/)?.[1];
      const next = truncated && last !== undefined ? `<NextContinuationToken>${Buffer.from(unxml(last)).toString('base64url')}</NextContinuationToken>` : '';
      return `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>${esc(url.slice(1, q))}</Name><Prefix>${esc(prefix)}</Prefix>`
        + `<KeyCount>${contents.length}</KeyCount><MaxKeys>${size}</MaxKeys><IsTruncated>${truncated}</IsTruncated>${next}${contents.join('')}</ListBucketResult>`;
    },
  };
}

/** Starts the proxy on loopback in front of `target` (an s3rver endpoint). */
export async function startSigV4Proxy(target: string, creds: readonly ProxyCredentials[], region = 'us-east-1'): Promise<SigV4Proxy> {
  const seen: SeenRequest[] = [];
  let failures: { count: number; status: number } = { count: 0, status: 500 };
  const upstream = new URL(target);
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req);
    const flat = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : String(v ?? '')]));
    const answer = (status: number, text: string) => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: flat, status, bytes: body.length });
      res.writeHead(status, { 'content-type': 'application/xml' });
      res.end(text);
    };
    const refused = await verify(req, body, creds, region);
    if (refused) return answer(refused[0], xmlError(refused[1], refused[2]));
    if (req.method === 'PUT' && failures.count > 0) {
      failures = { ...failures, count: failures.count - 1 };
      return answer(failures.status, xmlError(failures.status === 503 ? 'SlowDown' : 'InternalError', 'injected by the test proxy'));
    }
    // s3rver parses the V4 header but only looks the key up: give it its own.
    const headers: Record<string, string | string[] | undefined> = { ...req.headers, host: upstream.host, authorization: String(req.headers.authorization).replace(/Credential=[^/]+/, 'Credential=S3RVER') };
    delete headers['x-amz-security-token'];
    delete headers.expect;
    const listing = listV2(req.method ?? '', req.url ?? '/');
    const fwd = httpRequest({ host: upstream.hostname, port: upstream.port, method: req.method, path: listing?.path ?? req.url, headers }, (up) => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: flat, status: up.statusCode ?? 0, bytes: body.length });
      if (!listing || up.statusCode !== 200) {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
        return;
      }
      const chunks: Buffer[] = [];
      up.on('data', (d: Buffer) => chunks.push(d));
      up.on('end', () => {
        const page = listing.page(Buffer.concat(chunks).toString('utf8'));
        res.writeHead(200, { 'content-type': 'application/xml', 'content-length': String(Buffer.byteLength(page)) });
        res.end(page);
      });
    });
    fwd.on('error', (e) => answer(502, xmlError('BadGateway', e.message)));
    fwd.end(body);
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      res.writeHead(500);
      res.end(xmlError('InternalError', String(e)));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    seen,
    failNext: (count, status) => {
      failures = { count, status };
    },
    stop: () => new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}
