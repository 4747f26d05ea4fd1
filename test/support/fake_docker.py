# A stand-in for the Docker CLI that serves container states from a fixture directory
# ($FAKE_DOCKER_STATE/containers.json) and logs every call to calls.log. It evaluates the
# small subset of Go templates the host scripts use: {{.A.B}}, {{json .A}},
# {{if .A}}x{{else}}y{{end}}, {{range .A}}…{{end}}, {{index .A "k"}} and {{println}}.
# Python, not Node: the suite calls it thousands of times and `python3 -S` starts in a fraction
# of Node's CPU time; for the same reason the common paths import neither json nor re (their
# imports cost as much as the start-up) but the C scanner and encoder behind json. Values follow
# JavaScript's rules (truthiness, String(), JSON.stringify), as the Node version this replaces
# did, so fixtures and outputs stay the same.
#
# Even so, a Python start-up costs ~7 ms of CPU, and a suite run makes ~3,300 calls. serve() answers
# calls over TCP from one long-running process instead; test/support/bin/docker (bash, ~1.5 ms)
# sends it the arguments and prints the answer. What the server cannot do (start a process, read
# stdin) it hands back untouched, and that call runs here as a script, through cli().
import os
import sys

import _json
import _signal


class Undefined:
    """JavaScript's undefined: a missing key, as opposed to null (None)."""


UNDEF = Undefined()
# The call being answered: the CLI's own stdio and environment, or the server's (serve()).
OUT = sys.stdout.buffer
ERR = sys.stderr.buffer
ENV = os.environ
# In the server: the call's writes to files (calls.log, containers.json), made only once the call
# is known not to need the CLI, which would make them again. None in the CLI: written at once.
PENDING = None


class Exit(Exception):
    """die() in the server: the call's exit code."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


class NeedsCli(Exception):
    """A call the server cannot answer (it would start a process or read stdin)."""


def utf8(text):
    try:
        return text.encode('utf-8')
    except UnicodeEncodeError:
        # Lone surrogates (from \ud800 escapes in fixtures) become U+FFFD, as Node writes them.
        return ''.join('\ufffd' if '\ud800' <= ch <= '\udfff' else ch for ch in text).encode('utf-8')


def write(stream, text):
    stream.write(utf8(text))
    stream.flush()


def die(code, message=''):
    if message:
        write(ERR, message)
    if PENDING is not None:
        raise Exit(code & 0xFF)
    OUT.flush()
    os._exit(code & 0xFF)


def effect(fn, *args):
    """Writes a file now (CLI) or once the call is answered (server)."""
    if PENDING is None:
        fn(*args)
    else:
        PENDING.append((fn, args))


def append_line(path, data):
    # One write(2) per line, as appendFileSync does: concurrent calls must not interleave.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def write_file(path, data):
    with open(path, 'wb') as f:
        f.write(data)


# --- JavaScript value semantics --------------------------------------------------------------

def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def truthy(v):
    if v is None or v is UNDEF or v is False:
        return False
    if is_number(v):
        return v == v and v != 0
    if isinstance(v, str):
        return v != ''
    return True


def js_number(x):
    """Number.prototype.toString() for what JSON.parse can produce."""
    if isinstance(x, int) and abs(x) < 2 ** 53:
        return str(x)
    x = float(x)
    if x != x:
        return 'NaN'
    if x in (float('inf'), float('-inf')):
        return 'Infinity' if x > 0 else '-Infinity'
    if x == 0:
        return '0'
    sign = '-' if x < 0 else ''
    # repr gives the shortest round-trip digits, as JavaScript does; only the layout differs.
    mantissa, _, exp = repr(abs(x)).partition('e')
    whole, _, frac = mantissa.partition('.')
    digits = (whole + frac).lstrip('0')
    point = len(whole) + (int(exp) if exp else 0)  # decimal point position in whole+frac
    point -= len(whole + frac) - len((whole + frac).lstrip('0'))
    digits = digits.rstrip('0') or '0'
    k, n = len(digits), point
    if k <= n <= 21:
        return sign + digits + '0' * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + '.' + digits[n:]
    if -6 < n <= 0:
        return sign + '0.' + '0' * (-n) + digits
    e = n - 1
    esign = '+' if e >= 0 else '-'
    return sign + digits[0] + ('.' + digits[1:] if k > 1 else '') + 'e' + esign + str(abs(e))


def js_string(v):
    """String(v)."""
    if v is UNDEF:
        return 'undefined'
    if v is None:
        return 'null'
    if v is True:
        return 'true'
    if v is False:
        return 'false'
    if is_number(v):
        return js_number(v)
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        return ','.join('' if x is None or x is UNDEF else js_string(x) for x in v)
    return '[object Object]'


def js_keys(d):
    """Object key order: array-index keys ascending first, then the others as inserted."""
    index = [k for k in d if k.isdigit() and k.isascii() and (k == '0' or k[0] != '0') and int(k) < 2 ** 32 - 1]
    if not index:
        return list(d)
    index.sort(key=int)
    seen = set(index)
    return index + [k for k in d if k not in seen]


def quote(text):
    # What json.dumps(text, ensure_ascii=False) does; JSON.stringify also escapes lone surrogates.
    quoted = _json.encode_basestring(text)
    try:
        quoted.encode('utf-8')
        return quoted
    except UnicodeEncodeError:
        return ''.join('\\u%04x' % ord(ch) if '\ud800' <= ch <= '\udfff' else ch for ch in quoted)


def stringify(v, indent='', step=None):
    """JSON.stringify(v, null, step); None for a value JSON.stringify leaves out (undefined)."""
    if v is UNDEF:
        return None
    if v is None:
        return 'null'
    if v is True:
        return 'true'
    if v is False:
        return 'false'
    if is_number(v):
        if isinstance(v, float) and (v != v or v in (float('inf'), float('-inf'))):
            return 'null'
        return js_number(v)
    if isinstance(v, str):
        return quote(v)
    inner = indent + (step or '')
    if isinstance(v, list):
        items = [stringify(x, inner, step) or 'null' for x in v]
        if not items:
            return '[]'
        if step:
            return '[\n' + inner + (',\n' + inner).join(items) + '\n' + indent + ']'
        return '[' + ','.join(items) + ']'
    pairs = []
    for k in js_keys(v):
        s = stringify(v[k], inner, step)
        if s is not None:
            pairs.append(quote(k) + (': ' if step else ':') + s)
    if not pairs:
        return '{}'
    if step:
        return '{\n' + inner + (',\n' + inner).join(pairs) + '\n' + indent + '}'
    return '{' + ','.join(pairs) + '}'


def prop(o, k):
    """o[k] for the values JSON holds (o?.[k] when o is null or undefined)."""
    if isinstance(o, dict):
        return o.get(k, UNDEF)
    if isinstance(o, (list, str)):
        if k == 'length':
            return len(o)
        if k.isdigit() and k.isascii() and (k == '0' or k[0] != '0') and int(k) < len(o):
            return o[int(k)]
    return UNDEF


def nullish(v, default):
    """v ?? default"""
    return default if v is None or v is UNDEF else v


def lookup(obj, path):
    for k in path.split('.'):
        if k:
            obj = UNDEF if obj is None or obj is UNDEF else prop(obj, k)
    return obj


# --- Go templates (the subset the host scripts use) ------------------------------------------

# JavaScript's \s, and the line terminators its `.` does not match.
JS_SPACE = '\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff'
LINE_END = '\n\r\u2028\u2029'


def one_line(text):
    return not any(ch in LINE_END for ch in text)


def split_actions(tpl):
    """tpl.split(/(\{\{.*?\}\})/): text and {{…}} tokens in turn."""
    tokens, start, at = [], 0, 0
    while True:
        p = tpl.find('{{', at)
        if p < 0:
            break
        q = tpl.find('}}', p + 2)
        if q < 0:
            break
        if not one_line(tpl[p + 2:q]):
            at = p + 1
            continue
        tokens += [tpl[start:p], tpl[p:q + 2]]
        start = at = q + 2
    return tokens + [tpl[start:]]


def action(part):
    """The expression of /^\{\{\s*(.*?)\s*\}\}$/, or None when part is plain text."""
    if len(part) < 4 or not part.startswith('{{') or not part.endswith('}}'):
        return None
    expr = part[2:-2].strip(JS_SPACE)
    return expr if one_line(expr) else None


def index_args(expr):
    """The two groups of /^index\s+(\S+)\s+"(.*)"$/, or None."""
    rest = expr[5:]
    if not rest[:1] or rest[0] not in JS_SPACE:
        return None
    rest = rest.lstrip(JS_SPACE)
    end = next((i for i, ch in enumerate(rest) if ch in JS_SPACE), len(rest))
    obj, rest = rest[:end], rest[end:]
    if not obj or not rest:
        return None
    rest = rest.lstrip(JS_SPACE)
    if len(rest) < 2 or rest[0] != '"' or rest[-1] != '"':
        return None
    return obj, rest[1:-1]


def render(tpl, ctx):
    tokens = split_actions(tpl)
    pos = 0

    # Renders tokens until {{else}} or {{end}} at this level; returns (text, stopper).
    def block(context, active):
        nonlocal pos
        out = ''
        while pos < len(tokens):
            part = tokens[pos]
            pos += 1
            expr = action(part)
            if expr is None:
                if active:
                    out += part
                continue
            if expr in ('else', 'end'):
                return out, expr
            if expr.startswith('if '):
                cond = active and truthy(lookup(context, expr[3:].strip()))
                a, stop = block(context, active and cond)
                b = ''
                if stop == 'else':
                    b = block(context, active and not cond)[0]
                out += a if cond else b
            elif expr.startswith('range '):
                items = nullish(lookup(context, expr[6:].strip()), []) if active else []
                start = pos
                if isinstance(items, dict):
                    raise TypeError('range over an object')  # for…of throws there too
                if len(items) == 0:
                    block(context, False)
                for item in items:
                    pos = start
                    out += block(item, True)[0]
            elif not active:
                continue
            elif expr == 'println':
                out += '\n'
            elif expr.startswith('json '):
                out += stringify(nullish(lookup(context, expr[5:].strip()), None))
            elif expr.startswith('index '):
                m2 = index_args(expr)
                v = nullish(prop(nullish(lookup(context, m2[0]), UNDEF), m2[1]), '') if m2 else ''
                out += js_string(v)
            else:
                v = lookup(context, expr)
                out += '<no value>' if v is None or v is UNDEF else js_string(v)
        return out, None

    return block(ctx, True)[0]


# --- the CLI -----------------------------------------------------------------------------------

def node_join(*parts):
    """path.join: joins with '/' and normalizes (keeps a trailing slash)."""
    p = '/'.join(x for x in parts if x)
    if not p:
        return '.'
    absolute = p.startswith('/')
    trailing = p.endswith('/')
    segs = []
    for s in p.split('/'):
        if s in ('', '.'):
            continue
        if s == '..':
            if segs and segs[-1] != '..':
                segs.pop()
            elif not absolute:
                segs.append('..')
        else:
            segs.append(s)
    res = '/'.join(segs)
    if not res and not absolute:
        res = '.'
    if res and trailing:
        res += '/'
    return ('/' if absolute else '') + res


class JsonSyntax:
    """What json.loads configures _json's scanner with, but no NaN or Infinity (JSON.parse has none)."""
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int

    @staticmethod
    def parse_constant(name):
        raise ValueError('not JSON: ' + name)


SCAN = _json.make_scanner(JsonSyntax())
JSON_SPACE = ' \t\n\r'


def quoted_paths_in_root(root, text):
    """text.replace(/'(\/[^']*)'/g, …): each quoted absolute path moved into root."""
    out, at = '', 0
    while True:
        p = text.find("'/", at)
        q = text.find("'", p + 2) if p >= 0 else -1
        if q < 0:
            return out + text[at:]
        out += text[at:p] + "'" + node_join(root, text[p + 1:q]) + "'"
        at = q + 1


# Every signal back to its default in the child, as libuv (Node's spawn) does; subprocess would
# cost more to import than the rest of this file.
DEFAULT_SIGNALS = [n for n in range(1, 32) if n not in (_signal.SIGKILL, _signal.SIGSTOP)]


def spawn(argv, **kw):
    """Starts argv (looked up on PATH) with this process's stdio unless told otherwise; returns its pid."""
    if PENDING is not None:
        raise NeedsCli()
    OUT.flush()
    argv = [a.encode('utf-8', 'replace') for a in argv]
    return os.posix_spawnp(argv[0], argv, os.environ, setsigdef=DEFAULT_SIGNALS, setsigmask=(), **kw)


def read_json(path):
    with open(path, encoding='utf-8', errors='replace') as f:
        text = f.read()
    start = len(text) - len(text.lstrip(JSON_SPACE))
    try:
        value, end = SCAN(text, start)
    except StopIteration:
        raise ValueError('%s: not JSON' % path) from None
    if text[end:].strip(JSON_SPACE):
        raise ValueError('%s: extra data after the JSON value' % path)
    return value


def option(args, name):
    """Removes `name value` from args and returns value (UNDEF when absent)."""
    if name not in args:
        return UNDEF
    i = args.index(name)
    v = args[i + 1] if i + 1 < len(args) else UNDEF
    del args[i:i + 2]
    return v


def no_such(name, what='object'):
    die(1, 'Error: No such %s: %s\n' % (what, js_string(name)))


def get(c, k):
    return c.get(k, UNDEF) if isinstance(c, dict) else UNDEF


def inspect_view(name, c):
    view = {'Name': '/' + name, 'RestartCount': nullish(get(c, 'RestartCount'), 0), 'State': get(c, 'State'),
            'Config': nullish(get(c, 'Config'), {}), 'Mounts': nullish(get(c, 'Mounts'), []), 'LogPath': nullish(get(c, 'LogPath'), ''),
            'HostConfig': nullish(get(c, 'HostConfig'), {'LogConfig': {'Type': 'json-file', 'Config': {}}})}
    if isinstance(get(c, 'Id'), str):
        view['Id'] = get(c, 'Id')
    return view


def main(args):
    """One docker call; args as Node sees them (invalid UTF-8 already U+FFFD)."""
    state_dir = ENV.get('FAKE_DOCKER_STATE')
    if not state_dir:
        die(2, 'fake docker: FAKE_DOCKER_STATE is not set\n')
    effect(append_line, os.path.join(state_dir, 'calls.log'), utf8(stringify(args) + '\n'))
    file = os.path.join(state_dir, 'containers.json')
    containers = read_json(file) if os.path.exists(file) else {}
    info = {'DockerRootDir': ENV.get('FAKE_DOCKER_ROOT', '/var/lib/docker')}
    volumes_file = os.path.join(state_dir, 'volumes.json')
    volumes = read_json(volumes_file) if os.path.exists(volumes_file) else {}

    def save():
        effect(write_file, file, utf8(stringify(containers, '', '  ')))

    def container(name):
        return containers.get('undefined' if name is UNDEF else name, UNDEF)

    def key_of(ref):
        # Docker finds a container by name or by (a prefix of) its ID, as `inspect` does.
        if ref in containers:
            return ref
        for key in js_keys(containers):
            cid = get(containers[key], 'Id')
            if isinstance(cid, str) and len(ref) >= 4 and cid.startswith(ref):
                return key
        return ref

    cmd = args.pop(0) if args else UNDEF
    if cmd == 'info':
        fmt = option(args, '--format')
        write(OUT, (render(fmt, info) if truthy(fmt) else stringify(info)) + '\n')
    elif cmd == 'inspect':
        fmt = option(args, '--format')
        if fmt is UNDEF:
            fmt = option(args, '-f')
        option(args, '--type')
        rc = 0
        for ref in args:
            name = key_of(ref)
            c = container(name)
            if not truthy(c):
                write(ERR, 'Error: No such object: %s\n' % ref)
                rc = 1
                continue
            write(OUT, (render(fmt, inspect_view(name, c)) if truthy(fmt) else stringify([inspect_view(name, c)])) + '\n')
        die(rc)
    elif cmd == 'stats':
        fmt = option(args, '--format')
        names = [a for a in args if a != '--no-stream']
        for name in names:
            c = container(name)
            if not truthy(c) or get(nullish(get(c, 'State'), None), 'Status') != 'running':
                no_such(name, 'container')
        for name in names:
            s = nullish(get(container(name), 'stats'), {})
            write(OUT, render(fmt, {'Name': name, 'MemUsage': nullish(get(s, 'mem'), '0B / 0B'), 'CPUPerc': nullish(get(s, 'cpu'), '0.00%')}) + '\n')
    elif cmd == 'logs':
        option(args, '--since')
        name = args.pop() if args else UNDEF
        c = container(name)
        if not truthy(c):
            no_such(name, 'container')
        write(OUT, nullish(get(c, 'logs'), ''))
        write(ERR, nullish(get(c, 'stderrLogs'), ''))
    elif cmd == 'exec':
        if args and args[0] == '-i':
            args.pop(0)
        name = args.pop(0) if args else UNDEF
        c = container(name)
        if not truthy(c):
            no_such(name, 'container')
        if get(nullish(get(c, 'State'), None), 'Status') != 'running':
            die(1, 'Error response from daemon: container %s is not running\n' % js_string(name))
        # `timeout N prog …`: the time limit the scripts enforce inside the container.
        limit = []
        if args and args[0] == 'timeout' and len(args) > 2:
            limit, args = args[:2], args[2:]
        prog = args[0] if args else UNDEF
        rest = args[1:]
        root = get(c, 'root')
        # Commands that touch files run for real on the host, inside the container's root directory.
        if prog in ('sqlite3', 'cat', 'rm', 'stat', 'sha256sum') and truthy(root):
            def in_root(a):
                if a.startswith('/'):
                    return node_join(root, a)
                if a.startswith('file:/'):
                    return 'file:' + node_join(root, a[5:])
                return quoted_paths_in_root(root, a)
            argv = (['timeout', limit[1], prog] if limit else [prog]) + [in_root(a) for a in rest]
            try:
                _, status = os.waitpid(spawn(argv), 0)
                status = os.waitstatus_to_exitcode(status)
            except OSError:
                status = 1
            # Killed by a signal: spawnSync's status is null, and the Node version exited 1.
            die(status if status >= 0 else 1)
        commands = get(c, 'commands')
        hook = UNDEF if commands is None or commands is UNDEF else prop(commands, js_string(prog))
        if truthy(hook):
            # stdin: kept in a file when asked (docker exec -i), so tests can see what arrived.
            if truthy(get(hook, 'stdinTo')):
                if PENDING is not None:
                    raise NeedsCli()
                data = sys.stdin.buffer.read()
                with open(hook['stdinTo'], 'wb') as f:
                    f.write(data)
            write(OUT, nullish(get(hook, 'stdout'), ''))
            write(ERR, nullish(get(hook, 'stderr'), ''))
            die(nullish(get(hook, 'exit'), 0))
        if prog == 'pgrep':
            processes = get(c, 'processes')
            if processes is UNDEF:
                die(127, 'OCI runtime exec failed: exec: "pgrep": executable file not found in $PATH\n')
            import re
            pattern = re.compile(rest[-1] if rest else '')
            die(0 if any(pattern.search(p) for p in processes) else 1)
        die(126, 'fake docker: exec %s is not emulated\n' % js_string(prog))
    elif cmd == 'ps':
        fmt = option(args, '--format')
        filt = option(args, '--filter')
        filt = filt if isinstance(filt, str) else ''
        wanted = filt[7:] if filt.startswith('volume=') else ''
        label = filt[6:].split('=') if filt.startswith('label=') else ['']
        label_key = label[0]
        label_value = label[1] if len(label) > 1 else UNDEF
        for name in js_keys(containers):
            c = containers[name]
            if wanted and not any(get(m, 'Name') == wanted for m in nullish(get(c, 'Mounts'), [])):
                continue
            if label_key and get(nullish(get(nullish(get(c, 'Config'), None), 'Labels'), {}), label_key) != label_value:
                continue
            write(OUT, render(nullish(fmt, '{{.Names}}'), {'Names': name}) + '\n')
    elif cmd in ('image', 'container'):
        if not args or args[0] != 'prune':
            die(125, 'fake docker: %s %s is not emulated\n' % (cmd, args[0] if args else 'undefined'))
        write(OUT, 'Deleted: sha256:0123\nTotal reclaimed space: %s\n' % ('1.5GB' if cmd == 'image' else '12MB'))
    elif cmd == 'volume':
        sub = args.pop(0) if args else UNDEF
        fmt = option(args, '--format')

        # A volume is its mountpoint, or { Mountpoint, Labels } for one compose made.
        def view(name):
            v = volumes.get(name, UNDEF)
            if isinstance(v, str):
                return {'Name': name, 'Mountpoint': v, 'Labels': {}}
            d = {'Name': name, 'Labels': {}}
            if isinstance(v, dict):
                d.update((k, v[k]) for k in js_keys(v))
            return d
        if sub == 'ls':
            filt = option(args, '--filter')
            k, _, v = (filt[6:] if isinstance(filt, str) and filt.startswith('label=') else '').partition('=')
            if '=' in v:
                v = v.split('=')[0]
            expected = v if _ else UNDEF
            for name in js_keys(volumes):
                if not k or prop(view(name)['Labels'], k) == expected:
                    write(OUT, name + '\n')
        else:
            missing = next((name for name in args if not truthy(volumes.get(name))), UNDEF)
            if sub != 'inspect' or missing is not UNDEF or not args:
                die(1, 'Error: no such volume: %s\n' % (missing if missing is not UNDEF else args[0] if args else 'undefined'))
            write(OUT, ''.join(render(fmt, view(name)) + '\n' for name in args) if truthy(fmt) else stringify([view(name) for name in args]) + '\n')
    elif cmd in ('start', 'stop', 'restart'):
        for name in [a for a in args if not a.startswith('-') and not (a.isascii() and a.isdigit())]:
            c = container(name)
            if not truthy(c):
                no_such(name, 'container')
            if (cmd == 'stop' and truthy(get(c, 'stopFails'))) or (cmd == 'start' and truthy(get(c, 'startFails'))):
                die(1, 'Error response from daemon: cannot %s container %s\n' % (cmd, name))
            state = get(c, 'State')
            c['State'] = dict(state) if isinstance(state, dict) else {}
            c['State']['Status'] = 'exited' if cmd == 'stop' else 'running'
            # A container that ignores SIGTERM is killed at the end of docker stop -t.
            if cmd == 'stop':
                c['State']['ExitCode'] = 137 if truthy(get(c, 'ignoresSigterm')) else 0
            # The health a container reaches after (re)starting, e.g. 'unhealthy' after a bad restore.
            if cmd != 'stop' and truthy(get(c, 'healthAfterStart')):
                c['State']['Health'] = {'Status': c['healthAfterStart']}
            # Tests can make something happen on the host right when a container stops.
            if cmd == 'stop' and truthy(get(c, 'onStop')):
                spawn(['sh', '-c', c['onStop']], setsid=True, file_actions=[
                    (os.POSIX_SPAWN_OPEN, fd, '/dev/null', os.O_RDWR, 0) for fd in (0, 1, 2)])
            if cmd == 'restart':
                c['RestartCount'] = nullish(get(c, 'RestartCount'), 0) + 1
            write(OUT, name + '\n')
        save()
    else:
        die(125, 'fake docker: "%s" is not emulated\n' % js_string(cmd))
    die(0)



def cli():
    """The call this process was started for (test/support/bin/docker when no server answers)."""
    main([os.fsencode(a).decode('utf-8', 'replace') for a in sys.argv[1:]])


# --- the server ---------------------------------------------------------------------------------

def answer(request):
    """The reply to one request: state dir, FAKE_DOCKER_ROOT, '1' when that is set, argc, args,
    each NUL-terminated. Reply: "<exit> <stdout bytes> <stderr bytes> <r|b>\n", stdout, stderr;
    b: printf %b escapes (bash variables cannot hold NUL). Just "cli\n" for a call the server
    hands back, with nothing written."""
    global OUT, ERR, ENV, PENDING
    state, root, root_set, _, *args = request
    OUT, ERR, PENDING = Buffer(), Buffer(), []
    ENV = {'FAKE_DOCKER_STATE': state.decode('utf-8', 'surrogateescape')}
    if root_set:
        ENV['FAKE_DOCKER_ROOT'] = root.decode('utf-8', 'surrogateescape')
    try:
        try:
            main([a.decode('utf-8', 'replace') for a in args])
            code = 0
        except Exit as e:
            code = e.code
        for fn, fn_args in PENDING:
            fn(*fn_args)
    except Exception:  # NeedsCli, or anything the CLI reports with its own traceback
        return b'cli\n'
    finally:
        out, err = b''.join(OUT.parts), b''.join(ERR.parts)
        OUT, ERR, ENV, PENDING = sys.stdout.buffer, sys.stderr.buffer, os.environ, None
    mode = b'r'
    if b'\0' in out or b'\0' in err:
        mode = b'b'
        out, err = (x.replace(b'\\', b'\\\\').replace(b'\0', b'\\0000') for x in (out, err))
    return b'%d %d %d %s\n' % (code, len(out), len(err), mode) + out + err


class Buffer:
    def __init__(self):
        self.parts = []

    def write(self, data):
        self.parts.append(data)

    def flush(self):
        pass


def read_request(conn):
    data = b''
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
        fields = data.split(b'\0')[:-1]
        if len(fields) >= 4 and fields[3].isdigit() and len(fields) >= 4 + int(fields[3]):
            return fields


def serve(port_file):
    """Answers calls until its stdin closes (the test process that started it is gone); its port
    goes to port_file once it listens."""
    import select
    import socket
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(('127.0.0.1', 0))
    listener.listen(128)
    write_file(port_file + '.tmp', b'%d\n' % listener.getsockname()[1])
    os.rename(port_file + '.tmp', port_file)
    while True:
        ready = select.select([listener, 0], [], [])[0]
        if 0 in ready and not os.read(0, 4096):
            return
        if listener in ready:
            conn = listener.accept()[0]
            try:
                # One call at a time: each takes about a millisecond. A client that stops half
                # way (killed by a time limit) closes its end; one that stalls is dropped.
                conn.settimeout(5)
                request = read_request(conn)
                if request is not None:
                    conn.sendall(answer(request))
            except OSError:
                pass
            finally:
                conn.close()
