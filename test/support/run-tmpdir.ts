/**
 * One temporary directory per test run: vitest's main process (which loads the config) points
 * TMPDIR at /tmp/shipshape-test-<pid>-XXXXXX before any worker starts; workers, scripts and
 * their mktemp inherit it; the directory goes when the main process exits. Directories of runs
 * that were killed (their pid no longer lives) are removed by the next run.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PREFIX = 'shipshape-test-';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function runTmpdir(): string {
  const set = process.env.SHIPSHAPE_RUN_TMPDIR;
  if (set) return set;
  const base = tmpdir();
  for (const name of readdirSync(base)) {
    const pid = Number(name.startsWith(PREFIX) ? name.slice(PREFIX.length).split('-')[0] : NaN);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && !alive(pid)) rmSync(join(base, name), { recursive: true, force: true });
  }
  const dir = mkdtempSync(join(base, `${PREFIX}${process.pid}-`));
  process.env.SHIPSHAPE_RUN_TMPDIR = dir;
  process.env.TMPDIR = dir;
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
