/**
 * Config values AWS would reject fail when the config is loaded (so at synth), naming the path
 * and the bad value, instead of failing the deploy or the first run.
 */
import { describe, expect, it } from 'vitest';
import { FleetConfigError } from '../../lib/config/load.js';
import { EXECUTION_TIMEOUT_PATTERN } from '../../lib/runbooks/document.js';
import { demoFleet } from '../support/fleets.js';

const problem = (mutate: Parameters<typeof demoFleet>[0]) => {
  try {
    demoFleet(mutate);
  } catch (err) {
    if (err instanceof FleetConfigError) return err.message;
    throw err;
  }
  return undefined;
};

describe('config values AWS rejects', () => {
  it('accepts an execution timeout up to 48 hours, which the document pattern admits', () => {
    const fleet = demoFleet((f) => (f.defaults = { dispatch: { executionTimeoutSeconds: 172_800 } }));
    expect(new RegExp(EXECUTION_TIMEOUT_PATTERN).test(String(fleet.defaults.dispatch.executionTimeoutSeconds))).toBe(true);
  });

  it('fails when the execution timeout is over 48 hours, naming the path', () => {
    expect(problem((f) => (f.stacks[0]!.dispatch = { executionTimeoutSeconds: 172_801 }))).toMatch(/stacks\[0\]\.dispatch\.executionTimeoutSeconds/);
  });

  it('fails when storage transitions are less than 30 days apart, naming the path and both values', () => {
    const message = problem((f) => (f.backupStorage = { infrequentAccessAfterDays: 30, glacierAfterDays: 45 }));
    expect(message).toMatch(/backupStorage\.glacierAfterDays/);
    expect(message).toMatch(/at least 30 days after infrequentAccessAfterDays.*got 45 after 30/);
    expect(problem((f) => (f.backupStorage = { infrequentAccessAfterDays: 30, glacierAfterDays: 60 }))).toBeUndefined();
  });

  it('fails when a cron has a field EventBridge Scheduler refuses, naming the path', () => {
    expect(problem((f) => (f.stacks[0]!.schedules = { healthCheck: { cron: '0 25 * * ? *' } }))).toMatch(/stacks\[0\]\.schedules\.healthCheck\.cron.*out of range 0-23/);
    expect(problem((f) => (f.stacks[0]!.schedules = { healthCheck: { cron: '0 9 * * * *' } }))).toMatch(/exactly one of day-of-month and day-of-week must be "\?"/);
    expect(problem((f) => (f.stacks[0]!.schedules = { healthCheck: { rate: '0 minutes' } }))).toMatch(/at least 1/);
  });
});
