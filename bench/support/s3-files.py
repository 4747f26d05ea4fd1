"""A read-only S3 endpoint over a directory (<root>/<bucket>/<key>), path-style: GetObject (whole
or one byte range), HeadObject and ListObjectsV2 (prefix, continuation token, sizes). Objects go
out with sendfile(2): no copy through user space and no per-chunk work, so the endpoint costs the
bench's 2 cores next to nothing (see s3-files.ts). Signatures are not checked.

Usage: python3 s3-files.py <root>; prints "listening <endpoint>" once it accepts connections.
"""
import os
import sys
from base64 import urlsafe_b64decode, urlsafe_b64encode
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

from s3_handler import XML, S3Handler, xml

ROOT = sys.argv[1]


def keys_under(bucket_dir):
    out = []
    for d, _, files in os.walk(bucket_dir):
        out.extend(os.path.relpath(os.path.join(d, f), bucket_dir) for f in files)
    return sorted(out)


class Handler(S3Handler):
    def do_PUT(self):
        self.drain()
        self.error(501, 'NotImplemented', f'the files endpoint is read-only: {self.command} {self.path}')

    do_POST = do_PUT
    do_DELETE = do_PUT

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        url = urlsplit(self.path)
        bucket, _, key = unquote(url.path).lstrip('/').partition('/')
        bucket_dir = os.path.join(ROOT, bucket)
        if not bucket or not os.path.isdir(bucket_dir):
            return self.error(404, 'NoSuchBucket', f'no bucket {bucket}')
        if not key:
            q = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            prefix = q.get('prefix', '')
            token = q.get('continuation-token')
            after = urlsafe_b64decode(token + '=' * (-len(token) % 4)).decode() if token else ''
            keys = [k for k in keys_under(bucket_dir) if k.startswith(prefix) and k > after]
            page = keys[:1000]
            truncated = len(keys) > len(page)
            contents = ''.join(f'<Contents><Key>{escape(k)}</Key><Size>{os.path.getsize(os.path.join(bucket_dir, k))}</Size></Contents>' for k in page)
            nxt = f'<NextContinuationToken>{urlsafe_b64encode(page[-1].encode()).decode().rstrip("=")}</NextContinuationToken>' if truncated else ''
            body = (f'<ListBucketResult><Name>{escape(bucket)}</Name><Prefix>{escape(prefix)}</Prefix><KeyCount>{len(page)}</KeyCount>'
                    f'<IsTruncated>{"true" if truncated else "false"}</IsTruncated>{nxt}{contents}</ListBucketResult>')
            return self.reply(200, xml(body), XML)
        path = os.path.join(bucket_dir, key)
        if not os.path.isfile(path):
            return self.error(404, 'NoSuchKey', 'The specified key does not exist.')
        size = os.path.getsize(path)
        start, end, status = 0, size - 1, 200
        rng = self.headers.get('range', '')
        if rng.startswith('bytes=') and '-' in rng:
            first, _, last = rng[6:].partition('-')
            if first.isdigit():
                start, status = int(first), 206
                end = min(int(last), size - 1) if last.isdigit() else size - 1
                if start >= size:
                    return self.error(416, 'InvalidRange', 'The requested range is not satisfiable')
        self.send_response(status)
        self.send_header('content-type', 'application/octet-stream')
        self.send_header('content-length', str(max(0, end - start + 1)))
        if status == 206:
            self.send_header('content-range', f'bytes {start}-{end}/{size}')
        self.end_headers()
        if self.command == 'HEAD' or end < start:
            return
        self.wfile.flush()
        with open(path, 'rb') as f:
            offset, left = start, end - start + 1
            while left > 0:
                sent = os.sendfile(self.connection.fileno(), f.fileno(), offset, left)
                if sent == 0:
                    break
                offset += sent
                left -= sent


server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
server.daemon_threads = True
print(f'listening http://127.0.0.1:{server.server_address[1]}', flush=True)
server.serve_forever()
