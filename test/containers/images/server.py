#!/usr/bin/env python3
"""Test service: /health answers ok, 500 or slowly as /control/<mode> sets; /count reads the
database the writer fills; /emit/<n> writes error lines to the container log."""
import http.server, os, sqlite3, sys, time

MODE = '/run/shipshape-mode'
DB = os.environ.get('APP_DB', '/data/app.db')


def mode():
    try:
        with open(MODE) as f:
            return f.read().strip()
    except FileNotFoundError:
        return 'ok'


class Handler(http.server.BaseHTTPRequestHandler):
    def reply(self, code, body):
        data = body.encode()
        self.send_response(code)
        self.send_header('content-type', 'text/plain')
        self.send_header('content-length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        parts = self.path.strip('/').split('/')
        if parts[0] == 'control' and len(parts) == 2 and parts[1] in ('ok', '500', 'slow'):
            with open(MODE, 'w') as f:
                f.write(parts[1])
            return self.reply(200, parts[1])
        if parts[0] == 'emit' and len(parts) == 2 and parts[1].isdigit():
            for i in range(int(parts[1])):
                print(f'ERROR: simulated failure {i}', file=sys.stderr, flush=True)
            return self.reply(200, 'logged')
        if parts[0] == 'health':
            m = mode()
            if m == 'slow':
                time.sleep(3)
            return self.reply(500 if m == '500' else 200, m)
        if parts[0] == 'count':
            con = sqlite3.connect(DB, timeout=10)
            n = con.execute('SELECT COUNT(*) FROM t').fetchone()[0]
            return self.reply(200, str(n))
        return self.reply(404, 'not found')

    def log_message(self, fmt, *args):
        print('request ' + (fmt % args), flush=True)


http.server.ThreadingHTTPServer(('0.0.0.0', 8080), Handler).serve_forever()
