"""An S3 endpoint that accepts uploads and discards the bytes, path-style or virtual-hosted:
PutObject, CreateMultipartUpload, UploadPart, CompleteMultipartUpload, AbortMultipartUpload and
ListObjectsV2 (keys with the sizes received, so backup.sh's size check passes), enough for
backup.sh's curl transport and the AWS CLI. Bodies are read into one 1 MiB buffer per
connection (s3_handler.py): no allocation per chunk, so the endpoint costs the bench's 2 cores
little next to the pipeline it measures (the Node sink it replaces took ~1.1 s of CPU per 614 MB
backup).
Signatures are not checked. GET /_sink/received answers the payload bytes received so far.

Usage: python3 s3-sink.py; prints "listening <endpoint>" once it accepts connections.
"""
import itertools
import re
import threading
from datetime import datetime, timezone
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

from s3_handler import XML, S3Handler, xml

ETAG = '"d41d8cd98f00b204e9800998ecf8427e"'
LOCK = threading.Lock()
SIZES = {}  # "bucket/key" -> bytes
UPLOADS = {}  # upload id -> ("bucket/key", {part number: bytes})
RECEIVED = [0]
IDS = itertools.count(1)


class Handler(S3Handler):
    def target(self):
        url = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        path = unquote(url.path).lstrip('/')
        m = re.match(r'^([^.:]+)\.[^:]+', self.headers.get('host') or '')
        if m and not m.group(1).isdigit():
            return m.group(1), path, q
        bucket, _, key = path.partition('/')
        return bucket, key, q

    def do_PUT(self):
        bucket, key, q = self.target()
        n = self.drain()
        with LOCK:
            RECEIVED[0] += n
            if 'uploadId' in q:
                up = UPLOADS.get(q['uploadId'])
                if up is not None:
                    up[1][int(q.get('partNumber', '0'))] = n
            else:
                SIZES[f'{bucket}/{key}'] = n
        self.reply(200, b'', [('etag', ETAG)])

    def do_POST(self):
        bucket, key, q = self.target()
        self.drain()
        if 'uploads' in q:
            upload = f'upload-{next(IDS)}'
            with LOCK:
                UPLOADS[upload] = (f'{bucket}/{key}', {})
            return self.reply(200, xml(f'<InitiateMultipartUploadResult><Bucket>{escape(bucket)}</Bucket><Key>{escape(key)}</Key><UploadId>{upload}</UploadId></InitiateMultipartUploadResult>'), XML)
        if 'uploadId' in q:
            with LOCK:
                up = UPLOADS.pop(q['uploadId'], None)
                if up is not None:
                    SIZES[up[0]] = sum(up[1].values())
            if up is None:
                return self.error(404, 'NoSuchUpload', 'no such upload')
            return self.reply(200, xml(f'<CompleteMultipartUploadResult><Location>http://sink/{escape(up[0])}</Location><Bucket>{escape(bucket)}</Bucket><Key>{escape(key)}</Key><ETag>{ETAG}</ETag></CompleteMultipartUploadResult>'), XML)
        self.error(501, 'NotImplemented', f'the sink does not answer POST {self.path}')

    def do_DELETE(self):
        _, _, q = self.target()
        self.drain()
        with LOCK:
            UPLOADS.pop(q.get('uploadId', ''), None)
        self.reply(204)

    def do_GET(self):
        if self.path == '/_sink/received':
            return self.reply(200, str(RECEIVED[0]).encode(), [('content-type', 'text/plain')])
        bucket, key, q = self.target()
        self.drain()
        if key:
            return self.error(404, 'NoSuchKey', 'the sink keeps no bytes')
        prefix = f'{bucket}/{q.get("prefix", "")}'
        now = datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.000Z')
        with LOCK:
            items = sorted((k, v) for k, v in SIZES.items() if k.startswith(prefix))
        contents = ''.join(f'<Contents><Key>{escape(k[len(bucket) + 1:])}</Key><LastModified>{now}</LastModified><ETag>{escape(ETAG)}</ETag><Size>{size}</Size><StorageClass>STANDARD</StorageClass></Contents>' for k, size in items)
        body = (f'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>{escape(bucket)}</Name><Prefix>{escape(q.get("prefix", ""))}</Prefix>'
                f'<KeyCount>{len(items)}</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>{contents}</ListBucketResult>')
        self.reply(200, xml(body), XML)


server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
server.daemon_threads = True
print(f'listening http://127.0.0.1:{server.server_address[1]}', flush=True)
server.serve_forever()
