/**
 * Each file's time in the last whole run, for the sequencer's plan (test/support/durations.ts).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TestModule, Vitest } from 'vitest/node';
import DurationsReporter, { durationsFile, readDurations, WHOLE_RUN_ENV } from './durations.js';

const mod = (name: string) => ({ moduleId: `/repo/${name}`, relativeModuleId: name }) as TestModule;

describe('the durations of whole runs', () => {
  let root: string;
  let before: string | undefined;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'durations-'));
    before = process.env[WHOLE_RUN_ENV];
  });
  afterEach(() => {
    if (before === undefined) delete process.env[WHOLE_RUN_ENV];
    else process.env[WHOLE_RUN_ENV] = before;
    rmSync(root, { recursive: true, force: true });
  });

  /** A run of `files` through the reporter; the reason it ended. */
  const run = (files: string[], reason = 'passed') => {
    const reporter = new DurationsReporter();
    reporter.onInit({ config: { root } } as Vitest);
    const mods = files.map(mod);
    for (const m of mods) reporter.onTestModuleQueued(m);
    for (const m of mods) reporter.onTestModuleEnd(m);
    reporter.onTestRunEnd(mods, [], reason);
  };

  it('records every file of a whole run, by its path', () => {
    // Prepare
    process.env[WHOLE_RUN_ENV] = '1';
    // Act
    run(['test/a.test.ts', 'test/b.test.ts']);
    // Assess
    const durations = readDurations(root);
    expect(Object.keys(durations).sort()).toEqual(['test/a.test.ts', 'test/b.test.ts']);
    for (const ms of Object.values(durations)) expect(ms).toBeGreaterThanOrEqual(0);
  });

  it('records nothing for a run of some files, or an interrupted one', () => {
    // Act
    delete process.env[WHOLE_RUN_ENV];
    run(['test/a.test.ts']);
    process.env[WHOLE_RUN_ENV] = '1';
    run(['test/a.test.ts'], 'interrupted');
    // Assess
    expect(existsSync(durationsFile(root))).toBe(false);
    expect(readDurations(root)).toEqual({});
  });
});
