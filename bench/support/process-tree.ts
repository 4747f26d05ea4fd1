/**
 * Runs a command and samples the resident memory of its WHOLE process tree (the command and
 * every descendant alive at the sample) from /proc, every 50 ms by default. The peak is the
 * largest sum of VmRSS over one sample. Processes that leave the tree (double fork) are not
 * counted; the host scripts do not daemonize.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** stages: 'shipshape-stage: <name>' lines of the host scripts' stderr, with the second each arrived. */
export interface Measured {
  seconds: number; peakRssMB: number; stdout: string; stderr: string; status: number | null; stages: { at: number; name: string }[];
  /** Seconds the work the run left in the background took after it ended (restore.sh: removing the copies set aside). */
  afterSeconds?: number;
}

/** Parent pid and RSS (KiB) of every process, read from /proc/<pid>/stat and statm. */
function processTable(): Map<number, { ppid: number; rssKiB: number }> {
  const table = new Map<number, { ppid: number; rssKiB: number }>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
      // comm may hold spaces and parentheses: fields start after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const rssPages = Number(readFileSync(`/proc/${pid}/statm`, 'latin1').split(' ')[1]);
      table.set(pid, { ppid: Number(fields[1]), rssKiB: rssPages * 4 });
    } catch { /* the process ended between the listing and the read */ }
  }
  return table;
}

/** Sum of RSS (KiB) of <root> and all its descendants. */
export function treeRssKiB(root: number): number {
  const table = processTable();
  const children = new Map<number, number[]>();
  for (const [pid, p] of table) children.set(p.ppid, [...(children.get(p.ppid) ?? []), pid]);
  let sum = 0;
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop()!;
    sum += table.get(pid)?.rssKiB ?? 0;
    stack.push(...(children.get(pid) ?? []));
  }
  return sum;
}

/** Runs cmd, times it and samples the tree's memory. Rejects on a non-zero exit unless allowFailure. */
export function measure(cmd: string, args: string[], env: NodeJS.ProcessEnv, opts: { intervalMs?: number; allowFailure?: boolean; timeoutMs?: number } = {}): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    const stages: { at: number; name: string }[] = [];
    let partial = '';
    child.stderr.on('data', (d: Buffer) => {
      const at = Number(process.hrtime.bigint() - t0) / 1e9;
      const text = d.toString('utf8');
      if (stderr.length < 1_000_000) stderr += text;
      const lines = (partial + text).split('\n');
      partial = lines.pop()!;
      for (const l of lines) if (l.startsWith('shipshape-stage: ')) stages.push({ at, name: l.slice(17) });
    });
    let peak = 0;
    const sample = () => { if (child.pid) peak = Math.max(peak, treeRssKiB(child.pid)); };
    const timer = setInterval(sample, opts.intervalMs ?? 50);
    const killer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.on('error', (e) => { clearInterval(timer); reject(e); });
    child.on('close', (status) => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      clearInterval(timer);
      if (killer) clearTimeout(killer);
      if (status !== 0 && !opts.allowFailure) return reject(new Error(`${cmd} ${args.join(' ').slice(0, 200)} failed (${status}): ${stderr.slice(-800)}`));
      resolve({ seconds, peakRssMB: peak / 1024, stdout, stderr, status, stages });
    });
  });
}

/** Runs a bash script (set -euo pipefail) under measure(). */
export function measureBash(script: string, env: NodeJS.ProcessEnv, opts?: Parameters<typeof measure>[3]): Promise<Measured> {
  return measure('bash', ['-c', `set -euo pipefail\n${script}`], env, opts);
}
