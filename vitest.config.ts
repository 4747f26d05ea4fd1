import { defineConfig } from 'vitest/config';
import LongestFirst from './test/support/sequencer.js';
import { runTmpdir } from './test/support/run-tmpdir.js';

// Every temporary file of the run (cdk synth output, fake hosts, specs, the scripts' own
// mktemp) goes under one directory that is removed when the run ends: a run left several GB
// in /tmp, and past 80 % of / the end-to-end health check's real disk probe warns.
runTmpdir();

/**
 * Every file but the container suites shares a worker process with others (isolate: false), so aws-cdk-lib, cdk-nag, zod and
 * the SDK are loaded once per worker instead of once per file: that import time was most of the
 * unit tiers' time. Host-script and end-to-end files hand each script its whole environment, close
 * the hosts and servers they start, and their SDK stubs are restored when they end. Module state
 * does carry over from file to file: the handler tests, which stub the environment before
 * importing a handler (it reads it at import) and check Powertools' cold start, call
 * vi.resetModules() before and after. Sharing saved about 18 s (host scripts), 6-10 s (end to
 * end) and 5 s (handlers) of CPU per suite.
 */
const CONTAINERS = ['test/containers/**/*.test.ts'];

export default defineConfig({
  test: {
    // A hang detector, not a speed limit: with three files at a time on a busy 2-core machine a
    // CPU-bound test (shellcheck over every script) took 72 s where it takes 10 s alone.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Vitest's default is one worker fewer than the cores (1 on 2 cores: every file in turn). Most
    // files wait on child processes, servers and sleeps, so three at a time keep 2 cores busy.
    maxWorkers: Number(process.env.SHIPSHAPE_TEST_WORKERS ?? 3),
    reporters: ['default', './test/support/summary-reporter.ts'],
    // Longest first across projects; container suites last while their images are being built.
    sequence: { sequencer: LongestFirst },
    projects: [
      {
        extends: true,
        test: {
          name: 'containers',
          include: CONTAINERS,
          // The container tier's images, built once in the background from the start of the run
          // (test/containers/global-setup.ts); a suite's beforeAll may wait for that build.
          globalSetup: ['./test/containers/global-setup.ts'],
          hookTimeout: 20 * 60_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'shared',
          include: ['test/**/*.test.ts'],
          exclude: CONTAINERS,
          isolate: false,
          // SDK clients a file left mocked are restored before the next file runs in the same process.
          setupFiles: ['./test/support/shared-worker-setup.ts'],
        },
      },
    ],
  },
});
