/**
 * Every host script, clean under shellcheck as anyone runs it: plain `shellcheck`, no -x.
 * lib/host-scripts/.shellcheckrc makes it follow the sourced libraries the documents inline.
 */
import { execFile, spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';

const scripts = [
  ...readdirSync('lib/host-scripts').filter((f) => f.endsWith('.sh')).map((f) => `lib/host-scripts/${f}`),
  ...readdirSync('lib/host-scripts/lib').filter((f) => f.endsWith('.sh')).map((f) => `lib/host-scripts/lib/${f}`),
];

/** shellcheck on one script: what it printed, and its exit code. */
function shellcheck(script: string): Promise<{ script: string; output: string; status: number }> {
  return new Promise((resolve) => {
    execFile('shellcheck', ['-S', 'style', script], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = (err as { code?: unknown } | null)?.code;
      resolve({ script, output: stdout + stderr + (err && typeof code !== 'number' ? String(err) : ''), status: err ? (typeof code === 'number' ? code : -1) : 0 });
    });
  });
}

describe('host scripts', () => {
  it('are all clean under shellcheck, down to style notes', async () => {
    // Prepare
    expect(spawnSync('sh', ['-c', 'command -v shellcheck'], { encoding: 'utf8' }).stdout.trim(), 'shellcheck must be installed (npm test installs it as root: scripts/host-tools.sh)').not.toBe('');
    expect(scripts.length).toBeGreaterThanOrEqual(11);
    // Act: one shellcheck per script, as many at once as there are cores, the largest first
    // (following the sourced libraries makes each script's check CPU-bound for seconds).
    const queue = [...scripts].sort((a, b) => statSync(b).size - statSync(a).size);
    const runs: Awaited<ReturnType<typeof shellcheck>>[] = [];
    await Promise.all(Array.from({ length: Math.min(availableParallelism(), queue.length) }, async () => {
      for (let next = queue.shift(); next; next = queue.shift()) runs.push(await shellcheck(next));
    }));
    // Assess
    expect(runs.map((r) => r.script).sort()).toEqual([...scripts].sort());
    expect(runs.filter((r) => r.output !== '' || r.status !== 0).map((r) => `${r.script} (exit ${r.status}):\n${r.output}`).join('\n')).toBe('');
  });
});
