/**
 * Fault injection for the host scripts (issue 11): PATH shims in front of every external
 * command a script runs, each able to fail, hang or write nothing, and a fake AWS CLI over a
 * directory so that hundreds of runs stay cheap (the real CLI costs ~0.5 s of CPU per call;
 * the real CLI against s3rver is covered by the backup and restore suites).
 *
 *   FAULT_CMD    the command to break (its basename: tar, zstd, openssl, wc, tee, aws, sqlite3, docker)
 *   FAULT_SUB    for docker: only this subcommand (stop, start, exec, inspect)
 *   FAULT_MODE   fail (exit 1 with a message), hang (sleep until killed), nothing (exit 0, no output, reads nothing)
 *   FAULT_SKIP   let this many matching calls through first (counted in FAULT_COUNTER)
 *   FAULT_TIMES  break this many calls after those (default: all)
 *
 * Every call of a shimmed command is logged to FAULT_LOG, so a clean run tells which
 * commands a script calls and how often.
 */
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

/** Commands the harness can break, with docker split by subcommand. */
export const SHIMMED = ['sqlite3', 'tar', 'zstd', 'openssl', 'sha256sum', 'wc', 'tee', 'aws', 'docker'] as const;
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

const SHIM = `#!/bin/bash
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
    --endpoint-url|--region) shift 2 ;;
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

export class FaultLab {
  readonly dir = mkdtempSync(join(tmpdir(), 'faults-'));
  readonly bin = join(this.dir, 'bin');
  readonly awsBin = join(this.dir, 'aws-bin');
  readonly s3 = join(this.dir, 's3');
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
  }

  /**
   * The environment of one run: shims first, then the fake AWS CLI, then `path` (the fake
   * docker and the system). Returns the environment and the file the shims log calls to.
   */
  env(path: string, fault: Fault | undefined): { env: Record<string, string>; log: string } {
    const run = join(this.dir, `run-${++this.runs}`);
    mkdirSync(run);
    const realPath = `${this.awsBin}:${path}`;
    const env: Record<string, string> = {
      PATH: `${this.bin}:${realPath}`, FAULT_REAL_PATH: realPath, FAULT_LOG: join(run, 'calls.log'), FAULT_COUNTER: join(run, 'counter'), FAKE_S3_DIR: this.s3,
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

/** Every file under a directory (relative path -> SHA-256). */
export function hashTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(dir)) return out;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        // Another run's upload may be renamed away between the listing and the read.
        try {
          if (statSync(p).isFile()) out[relative(dir, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
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

/** A markdown table of outcomes, written where FAULT_REPORT points (for the closing note). */
export function writeReport(outcomes: FaultOutcome[]): void {
  const file = process.env.FAULT_REPORT;
  if (!file) return;
  const rows = outcomes.map((o) => `| ${o.script} | ${o.fault} | ${o.outcome} | ${o.detail.replace(/\|/g, '/').replace(/\n/g, ' ').slice(0, 160)} |`);
  writeFileSync(file, ['| script | fault | outcome | first error |', '|---|---|---|---|', ...rows].join('\n') + '\n');
}
