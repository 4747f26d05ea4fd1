/**
 * How long each file took in the last whole-suite run, for the sequencer's plan. Vitest's own
 * cache keeps the duration of a file's last run of any kind: after a file ran alone (seconds
 * faster than beside three others) or with a test filter, the plan was off by that much (a
 * 60 s file started 85 s into the run). Only runs of every file are recorded here, as each
 * file's wall time from being queued to its end.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Reporter, TestModule, Vitest } from 'vitest/node';

/** Set by the sequencer in vitest's main process when the run has every test file. */
export const WHOLE_RUN_ENV = 'SHIPSHAPE_WHOLE_RUN';

export const durationsFile = (root: string) => join(root, 'node_modules', '.cache', 'shipshape-durations.json');

/** Milliseconds by file path relative to the root; empty when none were recorded. */
export function readDurations(root: string): Record<string, number> {
  try {
    return JSON.parse(readFileSync(durationsFile(root), 'utf8')) as Record<string, number>;
  } catch {
    return {};
  }
}

export default class DurationsReporter implements Reporter {
  private root = process.cwd();
  private readonly queued = new Map<string, number>();
  private readonly walls: Record<string, number> = {};

  onInit(ctx: Vitest): void {
    this.root = ctx.config.root;
  }

  onTestModuleQueued(mod: TestModule): void {
    this.queued.set(mod.moduleId, Date.now());
  }

  onTestModuleEnd(mod: TestModule): void {
    const start = this.queued.get(mod.moduleId);
    if (start !== undefined) this.walls[mod.relativeModuleId] = Date.now() - start;
  }

  onTestRunEnd(modules: ReadonlyArray<TestModule>, _errors: unknown, reason: string): void {
    if (process.env[WHOLE_RUN_ENV] !== '1' || reason === 'interrupted' || Object.keys(this.walls).length !== modules.length) return;
    const file = durationsFile(this.root);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${JSON.stringify(this.walls, null, 1)}\n`);
  }
}
