"""What the bench's Python S3 endpoints (s3-files.py, s3-sink.py) share: HTTP/1.1 replies with a
length, S3's XML errors, and request bodies read and dropped into one buffer per connection
(chunked or with a length), so an endpoint costs the bench's 2 cores little."""
from http.server import BaseHTTPRequestHandler
from xml.sax.saxutils import escape

XML = [('content-type', 'application/xml')]


def xml(body):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body).encode()


class S3Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    _buf = None

    def log_message(self, *args):
        pass

    def reply(self, status, body=b'', headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header('content-length', str(len(body)))
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(body)

    def error(self, status, code, message):
        self.reply(status, xml(f'<Error><Code>{code}</Code><Message>{escape(message)}</Message></Error>'), XML)

    def discard(self, n):
        if self._buf is None:
            self._buf = bytearray(1 << 20)
        view = memoryview(self._buf)
        while n > 0:
            got = self.rfile.readinto(view[:min(n, len(self._buf))])
            if not got:
                raise ConnectionError('the client closed the connection mid-body')
            n -= got

    def drain(self):
        """Reads and drops the body; the payload size (decoded size for aws-chunked)."""
        n = 0
        if 'chunked' in (self.headers.get('transfer-encoding') or '').lower():
            while True:
                size = int(self.rfile.readline().split(b';')[0].strip() or b'0', 16)
                if size == 0:
                    while self.rfile.readline() not in (b'\r\n', b'\n', b''):
                        pass
                    break
                self.discard(size)
                self.rfile.readline()
                n += size
        else:
            n = int(self.headers.get('content-length') or 0)
            self.discard(n)
        decoded = self.headers.get('x-amz-decoded-content-length')
        return int(decoded) if decoded else n
