/**
 * Every host script, clean under shellcheck as anyone runs it: plain `shellcheck`, no -x.
 * lib/host-scripts/.shellcheckrc makes it follow the sourced libraries the documents inline.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const scripts = [
  ...readdirSync('lib/host-scripts').filter((f) => f.endsWith('.sh')).map((f) => `lib/host-scripts/${f}`),
  ...readdirSync('lib/host-scripts/lib').filter((f) => f.endsWith('.sh')).map((f) => `lib/host-scripts/lib/${f}`),
];

describe('host scripts', () => {
  it('are all clean under shellcheck, down to style notes', () => {
    // Prepare
    expect(spawnSync('sh', ['-c', 'command -v shellcheck'], { encoding: 'utf8' }).stdout.trim(), 'shellcheck must be installed (npm test installs it as root: scripts/host-tools.sh)').not.toBe('');
    expect(scripts.length).toBeGreaterThanOrEqual(11);
    // Act
    const run = spawnSync('shellcheck', ['-S', 'style', ...scripts], { encoding: 'utf8' });
    // Assess
    expect(run.stdout + run.stderr).toBe('');
    expect(run.status).toBe(0);
  });
});
