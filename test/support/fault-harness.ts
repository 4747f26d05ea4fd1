/**
 * Fault injection for the host scripts (issue 11): PATH shims in front of every external
 * command a script runs, each able to fail, hang or write nothing, and one S3 server per test
 * file over a directory ($dir/s3/<bucket>/<key>, so a test reads and plants objects as files):
 * the scripts reach it through curl (s3.sh's default transport) with credentials in the
 * environment. A fake AWS CLI over the same directory serves the runs that choose the CLI
 * transport (SHIPSHAPE_S3_TRANSPORT=cli); the real CLI and SigV4 signing are covered by the
 * backup, restore and s3 suites.
 *
 *   FAULT_CMD    the command to break (its basename: tar, zstd, openssl, wc, tee, curl, aws, sqlite3, docker)
 *   FAULT_SUB    for docker: only this subcommand (stop, start, exec, inspect)
 *   FAULT_MODE   fail (exit 1 with a message), hang (sleep until killed), nothing (exit 0, no output, reads nothing)
 *   FAULT_SKIP   let this many matching calls through first (counted in FAULT_COUNTER)
 *   FAULT_TIMES  break this many calls after those (default: all)
 *
 * Every call of a shimmed command is logged to FAULT_LOG, so a clean run tells which
 * commands a script calls and how often.
 */
import { createHash } from 'node:crypto';
import { chmodSync, createReadStream, createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { pipeline } from 'node:stream/promises';

/** Commands the harness can break, with docker split by subcommand. */
export const SHIMMED = ['sqlite3', 'tar', 'zstd', 'openssl', 'sha256sum', 'wc', 'tee', 'dd', 'curl', 'aws', 'docker'] as const;
export type FaultMode = 'fail' | 'hang' | 'nothing';
export const MODES: readonly FaultMode[] = ['fail', 'hang', 'nothing'];

export interface Fault {
  readonly cmd: string;
  readonly sub?: string;
  readonly mode: FaultMode;
  readonly skip?: number;
  /** Break only this many calls (a transient fault); all by default. */
  readonly times?: number;
}

export const faultName = (f: Fault): string => `${f.cmd}${f.sub ? ` ${f.sub}` : ''} ${f.mode}${f.skip ? ` after ${f.skip} calls` : ''}${f.times ? ` (${f.times} call)` : ''}`;

// POSIX sh (dash on Debian starts in less CPU than bash): every shimmed call goes through it.
const SHIM = `#!/bin/sh
# shipshape fault shim: see test/support/fault-harness.ts
self=\${0##*/}
printf '%s %s\\n' "$self" "\${1:-}" >> "$FAULT_LOG" 2>/dev/null
if [ "$self" = "\${FAULT_CMD:-}" ] && { [ -z "\${FAULT_SUB:-}" ] || [ "\${1:-}" = "$FAULT_SUB" ]; }; then
  n=$( { flock 9; c=$(cat "$FAULT_COUNTER" 2>/dev/null || echo 0); echo $((c + 1)) > "$FAULT_COUNTER"; echo "$c"; } 9>> "$FAULT_COUNTER.lock")
  if [ "$n" -ge "\${FAULT_SKIP:-0}" ] && { [ -z "\${FAULT_TIMES:-}" ] || [ "$n" -lt $(( \${FAULT_SKIP:-0} + FAULT_TIMES )) ]; }; then
    case "$FAULT_MODE" in
      fail) echo "injected fault: $self \${1:-} failed" >&2; exit 1 ;;
      hang) exec sleep 300 ;;
      nothing) exit 0 ;;
    esac
  fi
fi
PATH=$FAULT_REAL_PATH
exec "$self" "$@"
`;

/** A fake AWS CLI over $FAKE_S3_DIR/<bucket>/<key>: s3 cp to and from stdin/stdout, list-objects-v2. */
const FAKE_AWS = `#!/bin/bash
set -u
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --endpoint-url|--region|--expected-size) shift 2 ;;
    --only-show-errors|--no-progress) shift ;;
    *) args+=("$1"); shift ;;
  esac
done
set -- "\${args[@]}"
if [ "$1 $2" = "s3 cp" ]; then
  if [ "$3" = - ]; then
    f="$FAKE_S3_DIR/\${4#s3://}"
    mkdir -p "$(dirname "$f")" && cat > "$f.part.$$" && mv -f "$f.part.$$" "$f"
    exit $?
  fi
  f="$FAKE_S3_DIR/\${3#s3://}"
  [ -f "$f" ] || { echo "fatal error: An error occurred (404) when calling the HeadObject operation: Not Found" >&2; exit 1; }
  exec cat "$f"
fi
if [ "$1 $2" = "s3api list-objects-v2" ]; then
  shift 2
  bucket=""; prefix=""; query=""
  while [ $# -gt 0 ]; do
    case "$1" in --bucket) bucket=$2; shift 2 ;; --prefix) prefix=$2; shift 2 ;; --query) query=$2; shift 2 ;; *) shift ;; esac
  done
  [ -d "$FAKE_S3_DIR/$bucket" ] || { echo "An error occurred (NoSuchBucket)" >&2; exit 254; }
  out=$(cd "$FAKE_S3_DIR/$bucket" && find . -type f ! -name '*.part.*' | sed 's#^\\./##' | awk -v p="$prefix" 'index($0, p) == 1' | sort)
  if [ -z "$out" ]; then echo None; exit 0; fi
  if [[ "$query" == *Size* ]]; then
    while IFS= read -r k; do printf '%s\\t%s\\n' "$k" "$(stat -c %s "$FAKE_S3_DIR/$bucket/$k")"; done <<< "$out"
  else
    printf '%s\\n' "$out" | paste -sd '\\t'
  fi
  exit 0
fi
echo "fake aws: $* is not emulated" >&2
exit 252
`;

const xml = (body: string) => `<?xml version="1.0" encoding="UTF-8"?>\n${body}`;
const esc = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const md5Of = (file: string) => createHash('md5').update(readFileSync(file)).digest('hex');

/**
 * An S3 endpoint over a directory (path style): PutObject, the multipart calls, GetObject (and a
 * Range for one byte), ListObjectsV2 in pages of 1000. Objects land by rename, so a reader never
 * sees half of one. Signatures are not checked here (test/support/sigv4-proxy.ts does that).
 */
function startDirectoryS3(root: string, uploads: string): Server {
  let next = 0;
  const fail = (res: ServerResponse, status: number, code: string, message: string) => {
    res.writeHead(status, { 'content-type': 'application/xml' });
    res.end(xml(`<Error><Code>${code}</Code><Message>${esc(message)}</Message></Error>`));
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://s3');
    const [bucket = '', ...rest] = url.pathname.slice(1).split('/').map(decodeURIComponent);
    const key = rest.join('/');
    const q = url.searchParams;
    const bucketDir = join(root, bucket);
    if (!bucket || !existsSync(bucketDir)) {
      req.resume();
      return fail(res, 404, 'NoSuchBucket', `no bucket ${bucket}`);
    }
    const file = join(bucketDir, key);
    if (req.method === 'PUT') {
      const uploadId = q.get('uploadId');
      const target = uploadId ? join(uploads, uploadId, String(Number(q.get('partNumber')))) : `${file}.part.${++next}`;
      if (uploadId && !existsSync(join(uploads, uploadId))) {
        req.resume();
        return fail(res, 404, 'NoSuchUpload', 'no such upload');
      }
      mkdirSync(dirname(target), { recursive: true });
      await pipeline(req, createWriteStream(target));
      if (!uploadId) renameSync(target, file);
      res.writeHead(200, { etag: `"${md5Of(uploadId ? target : file)}"` });
      return res.end();
    }
    if (req.method === 'POST' && q.has('uploads')) {
      req.resume();
      const id = `upload-${++next}`;
      mkdirSync(join(uploads, id), { recursive: true });
      writeFileSync(join(uploads, id, 'key'), `${bucket}/${key}`);
      res.writeHead(200, { 'content-type': 'application/xml' });
      return res.end(xml(`<InitiateMultipartUploadResult><Bucket>${esc(bucket)}</Bucket><Key>${esc(key)}</Key><UploadId>${id}</UploadId></InitiateMultipartUploadResult>`));
    }
    if (req.method === 'POST' && q.has('uploadId')) {
      req.resume();
      const dir = join(uploads, q.get('uploadId')!);
      if (!existsSync(dir)) return fail(res, 404, 'NoSuchUpload', 'no such upload');
      const parts = readdirSync(dir).filter((n) => /^\d+$/.test(n)).map(Number).sort((a, b) => a - b);
      const tmp = `${file}.part.${++next}`;
      mkdirSync(dirname(tmp), { recursive: true });
      writeFileSync(tmp, Buffer.concat(parts.map((n) => readFileSync(join(dir, String(n))))));
      renameSync(tmp, file);
      rmSync(dir, { recursive: true, force: true });
      res.writeHead(200, { 'content-type': 'application/xml' });
      return res.end(xml(`<CompleteMultipartUploadResult><Bucket>${esc(bucket)}</Bucket><Key>${esc(key)}</Key><ETag>"${md5Of(file)}-${parts.length}"</ETag></CompleteMultipartUploadResult>`));
    }
    if (req.method === 'DELETE' && q.has('uploadId')) {
      req.resume();
      rmSync(join(uploads, q.get('uploadId')!), { recursive: true, force: true });
      res.writeHead(204);
      return res.end();
    }
    if (req.method === 'GET' && !key) {
      const prefix = q.get('prefix') ?? '';
      const after = q.get('continuation-token') ? Buffer.from(q.get('continuation-token')!, 'base64url').toString('utf8') : '';
      const keys = Object.keys(hashTree(bucketDir, false)).filter((k) => !/\.part\.\d+$/.test(k) && k.startsWith(prefix) && k > after).sort();
      const page = keys.slice(0, 1000);
      const truncated = keys.length > page.length;
      const contents = page.map((k) => `<Contents><Key>${esc(k)}</Key><Size>${statSync(join(bucketDir, k)).size}</Size></Contents>`).join('');
      const token = truncated ? `<NextContinuationToken>${Buffer.from(page.at(-1)!).toString('base64url')}</NextContinuationToken>` : '';
      res.writeHead(200, { 'content-type': 'application/xml' });
      return res.end(xml(`<ListBucketResult><Name>${esc(bucket)}</Name><Prefix>${esc(prefix)}</Prefix><KeyCount>${page.length}</KeyCount><IsTruncated>${truncated}</IsTruncated>${token}${contents}</ListBucketResult>`));
    }
    if (req.method === 'GET') {
      if (!existsSync(file) || !statSync(file).isFile()) return fail(res, 404, 'NoSuchKey', 'The specified key does not exist.');
      if (req.headers.range === 'bytes=0-0') {
        res.writeHead(206);
        return res.end(readFileSync(file).subarray(0, 1));
      }
      res.writeHead(200, { 'content-length': String(statSync(file).size) });
      return void (await pipeline(createReadStream(file), res));
    }
    req.resume();
    fail(res, 501, 'NotImplemented', `${req.method} ${req.url}`);
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) fail(res, 500, 'InternalError', String(e));
      else res.destroy();
    });
  });
  // Bound a few ticks later (the address is looked up first), long before any test runs.
  server.listen(0, '127.0.0.1');
  return server;
}

export class FaultLab {
  readonly dir = mkdtempSync(join(tmpdir(), 'faults-'));
  readonly bin = join(this.dir, 'bin');
  readonly awsBin = join(this.dir, 'aws-bin');
  readonly s3 = join(this.dir, 's3');
  private readonly server: Server;
  private runs = 0;

  constructor(buckets: string[]) {
    mkdirSync(this.bin);
    mkdirSync(this.awsBin);
    for (const b of buckets) mkdirSync(join(this.s3, b), { recursive: true });
    for (const c of SHIMMED) {
      writeFileSync(join(this.bin, c), SHIM);
      chmodSync(join(this.bin, c), 0o755);
    }
    writeFileSync(join(this.awsBin, 'aws'), FAKE_AWS);
    chmodSync(join(this.awsBin, 'aws'), 0o755);
    this.server = startDirectoryS3(this.s3, join(this.dir, 'uploads'));
  }

  /** The S3 endpoint over `s3` (path style), for the curl transport. */
  get endpoint(): string {
    const address = this.server.address() as AddressInfo | null;
    if (!address) throw new Error('the lab\'s S3 server is not listening yet: call env() from a hook or a test');
    return `http://127.0.0.1:${address.port}`;
  }

  /**
   * The environment of one run: shims first, then the fake AWS CLI, then `path` (the fake
   * docker and the system); S3 through curl to the lab's server (a run passes
   * SHIPSHAPE_S3_TRANSPORT=cli for the fake CLI). Returns the environment and the file the
   * shims log calls to.
   */
  env(path: string, fault: Fault | undefined): { env: Record<string, string>; log: string } {
    const run = join(this.dir, `run-${++this.runs}`);
    mkdirSync(run);
    const realPath = `${this.awsBin}:${path}`;
    const env: Record<string, string> = {
      PATH: `${this.bin}:${realPath}`, FAULT_REAL_PATH: realPath, FAULT_LOG: join(run, 'calls.log'), FAULT_COUNTER: join(run, 'counter'), FAKE_S3_DIR: this.s3,
      SHIPSHAPE_S3_TRANSPORT: 'curl', SHIPSHAPE_S3_ENDPOINT: this.endpoint, AWS_ACCESS_KEY_ID: 'AKIAFAULTLABFAULTLAB', AWS_SECRET_ACCESS_KEY: 'fault-lab-secret',
      AWS_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true',
    };
    if (fault) Object.assign(env, { FAULT_CMD: fault.cmd, FAULT_SUB: fault.sub ?? '', FAULT_MODE: fault.mode, FAULT_SKIP: String(fault.skip ?? 0), FAULT_TIMES: fault.times ? String(fault.times) : '' });
    return { env, log: env.FAULT_LOG! };
  }

  /** Every object in the fake S3 with its SHA-256 (uploads still in flight left out). */
  objects(): Record<string, string> {
    return Object.fromEntries(Object.entries(hashTree(this.s3)).filter(([k]) => !/\.part\.\d+$/.test(k)));
  }

  read(bucket: string, key: string): Buffer | undefined {
    const f = join(this.s3, bucket, key);
    return existsSync(f) ? readFileSync(f) : undefined;
  }

  dispose(): void {
    this.server.closeAllConnections();
    this.server.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Calls per command ("docker stop", "tar", …) in a shim log. */
export function callCounts(log: string): Map<string, number> {
  const counts = new Map<string, number>();
  if (!existsSync(log)) return counts;
  for (const line of readFileSync(log, 'utf8').split('\n').filter(Boolean)) {
    const [cmd, sub] = line.split(' ');
    const key = cmd === 'docker' ? `docker ${sub}` : cmd!;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** Every file under a directory (relative path -> SHA-256, or '' when `hash` is false). */
export function hashTree(dir: string, hash = true): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(dir)) return out;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        // Another run's upload may be renamed away between the listing and the read.
        try {
          if (statSync(p).isFile()) out[relative(dir, p)] = hash ? createHash('sha256').update(readFileSync(p)).digest('hex') : '';
        } catch {
          continue;
        }
      }
    }
  };
  walk(dir);
  return out;
}

/** Exactly one JSON document on stdout, or why not. */
export function oneJson(stdout: string): { doc?: unknown; problem?: string } {
  const lines = stdout.split('\n').filter((l) => l.trim() !== '');
  if (lines.length !== 1) return { problem: `${lines.length} lines on stdout` };
  try {
    return { doc: JSON.parse(lines[0]!) };
  } catch (err) {
    return { problem: `not JSON: ${(err as Error).message}` };
  }
}

/** The outcome of one injected fault, for the report. */
export interface FaultOutcome {
  readonly script: string;
  readonly fault: string;
  readonly outcome: string;
  readonly detail: string;
}

const REPORT_HEADER = ['| script | fault | outcome | first error |', '|---|---|---|---|'];
const reportRow = (o: FaultOutcome) => `| ${o.script} | ${o.fault} | ${o.outcome} | ${o.detail.replace(/\|/g, '/').replace(/\n/g, ' ').slice(0, 160)} |`;

/**
 * A markdown table of outcomes, written where FAULT_REPORT points (for the closing note). With a
 * `part` (one per fault file, test/host-scripts/faults/), the report holds one section per part:
 * a file replaces only its own section, under a lock, since the files run in parallel processes.
 */
export function writeReport(outcomes: FaultOutcome[], part?: string): void {
  const file = process.env.FAULT_REPORT;
  if (!file) return;
  if (part === undefined) {
    writeFileSync(file, [...REPORT_HEADER, ...outcomes.map(reportRow)].join('\n') + '\n');
    return;
  }
  withLock(`${file}.lock`, () => {
    const sections = new Map<string, string>();
    const old = existsSync(file) ? readFileSync(file, 'utf8') : '';
    for (const m of old.matchAll(/^## faults: (\S+)\n([\s\S]*?)(?=^## faults: |(?![\s\S]))/gm)) sections.set(m[1]!, m[2]!.trimEnd());
    // Sorted by script, then fault: concurrent cases finish in any order.
    const rows = outcomes.map(reportRow).sort();
    sections.set(part, [...REPORT_HEADER, ...rows].join('\n'));
    const body = [...sections.keys()].sort().map((k) => `## faults: ${k}\n\n${sections.get(k)!.trim()}\n`).join('\n');
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, body);
    renameSync(tmp, file);
  });
}

/** Runs fn holding a lock directory (mkdir is atomic); a lock older than 30 s is taken as left by a dead process. */
function withLock(lock: string, fn: () => void): void {
  const wait = new Int32Array(new SharedArrayBuffer(4));
  for (let tries = 0; ; tries++) {
    try {
      mkdirSync(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      try {
        if (Date.now() - statSync(lock).mtimeMs > 30_000) rmSync(lock, { recursive: true, force: true });
      } catch {
        // Released meanwhile.
      }
      if (tries > 3000) throw new Error(`fault report: ${lock} held for too long`);
      Atomics.wait(wait, 0, 0, 10);
    }
  }
  try {
    fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
