/**
 * Every host script, clean under shellcheck as anyone runs it: plain `shellcheck`, no -x.
 * lib/host-scripts/.shellcheckrc makes it follow the sourced libraries the documents inline.
 *
 * Passing results are cached (node_modules/.cache/shipshape-shellcheck/, one empty file per
 * pass) under a key of everything shellcheck reads for the script: its bytes, those of every file
 * it sources (the `source=` directives, followed), the .shellcheckrc files above it, shellcheck's
 * version and the flags. A changed script or library is checked again; a failure is never cached.
 * SHIPSHAPE_SHELLCHECK_CACHE=0 checks everything.
 */
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const FLAGS = ['-S', 'style'];
const CACHE = 'node_modules/.cache/shipshape-shellcheck';
const scripts = [
  ...readdirSync('lib/host-scripts').filter((f) => f.endsWith('.sh')).map((f) => `lib/host-scripts/${f}`),
  ...readdirSync('lib/host-scripts/lib').filter((f) => f.endsWith('.sh')).map((f) => `lib/host-scripts/lib/${f}`),
];

/** shellcheck on one script: what it printed, and its exit code. */
function shellcheck(script: string): Promise<{ script: string; output: string; status: number }> {
  return new Promise((resolve) => {
    execFile('shellcheck', [...FLAGS, script], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = (err as { code?: unknown } | null)?.code;
      resolve({ script, output: stdout + stderr + (err && typeof code !== 'number' ? String(err) : ''), status: err ? (typeof code === 'number' ? code : -1) : 0 });
    });
  });
}

/**
 * The cache key of a script: undefined when a file it names cannot be read (then it is checked).
 * Sourced files are named by `# shellcheck ... source=<path>` (relative to the script's own
 * directory: source-path=SCRIPTDIR), followed from each sourced file in turn.
 */
function cacheKey(script: string, version: string): string | undefined {
  const hash = createHash('sha256').update(`${version}\0${FLAGS.join(' ')}\0`);
  const seen = new Set<string>();
  const queue = [resolve(script)];
  for (let file = queue.shift(); file; file = queue.shift()) {
    if (seen.has(file)) continue;
    seen.add(file);
    if (!existsSync(file)) return undefined;
    const text = readFileSync(file);
    hash.update(`${file}\0`).update(text).update('\0');
    for (const m of text.toString('utf8').matchAll(/^\s*#\s*shellcheck\s.*\bsource=(\S+)/gm)) {
      if (m[1] !== '/dev/null') queue.push(resolve(dirname(resolve(script)), m[1]!));
    }
  }
  // shellcheck reads the nearest .shellcheckrc above the script: all of them count.
  for (let d = dirname(resolve(script)); ; d = dirname(d)) {
    const rc = join(d, '.shellcheckrc');
    if (existsSync(rc)) hash.update(`${rc}\0`).update(readFileSync(rc)).update('\0');
    if (dirname(d) === d) break;
  }
  return hash.digest('hex');
}

describe('host scripts', () => {
  it('are all clean under shellcheck, down to style notes', async () => {
    // Prepare
    expect(spawnSync('sh', ['-c', 'command -v shellcheck'], { encoding: 'utf8' }).stdout.trim(), 'shellcheck must be installed (npm test installs it as root: scripts/host-tools.sh)').not.toBe('');
    expect(scripts.length).toBeGreaterThanOrEqual(11);
    const version = spawnSync('shellcheck', ['--version'], { encoding: 'utf8' }).stdout;
    expect(version).toMatch(/version: \S+/);
    const useCache = process.env.SHIPSHAPE_SHELLCHECK_CACHE !== '0';
    const keys = new Map(scripts.map((s) => [s, useCache ? cacheKey(s, version) : undefined]));
    const passedBefore = (s: string) => keys.get(s) !== undefined && existsSync(join(CACHE, keys.get(s)!));
    // Act: one shellcheck per script not passed before, as many at once as there are cores, the
    // largest first (following the sourced libraries makes each check CPU-bound for seconds).
    const runs: Awaited<ReturnType<typeof shellcheck>>[] = scripts.filter(passedBefore).map((script) => ({ script, output: '', status: 0 }));
    const queue = scripts.filter((s) => !passedBefore(s)).sort((a, b) => statSync(b).size - statSync(a).size);
    await Promise.all(Array.from({ length: Math.min(availableParallelism(), queue.length) }, async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const run = await shellcheck(next);
        runs.push(run);
        const key = keys.get(next);
        if (key && run.status === 0 && run.output === '') {
          mkdirSync(CACHE, { recursive: true });
          writeFileSync(join(CACHE, key), '');
        }
      }
    }));
    // Assess
    expect(runs.map((r) => r.script).sort()).toEqual([...scripts].sort());
    expect(runs.filter((r) => r.output !== '' || r.status !== 0).map((r) => `${r.script} (exit ${r.status}):\n${r.output}`).join('\n')).toBe('');
  });
});
