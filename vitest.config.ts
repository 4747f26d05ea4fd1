import { defineConfig } from 'vitest/config';
import LongestFirst from './test/support/sequencer.js';
import { runTmpdir } from './test/support/run-tmpdir.js';

// Every temporary file of the run (cdk synth output, fake hosts, specs, the scripts' own
// mktemp) goes under one directory that is removed when the run ends: a run left several GB
// in /tmp, and past 80 % of / the end-to-end health check's real disk probe warns.
runTmpdir();

/**
 * Every file shares a worker process with others (isolate: false), so aws-cdk-lib, cdk-nag, zod and
 * the SDK are loaded once per worker instead of once per file: that import time was most of the
 * unit tiers' time. Host-script, end-to-end and container files hand each script its whole
 * environment, close the hosts, servers and containers they start, and their SDK stubs are
 * restored when they end. Module state does carry over from file to file: the handler tests,
 * which stub the environment before importing a handler (it reads it at import) and check
 * Powertools' cold start, call vi.resetModules() before and after.
 *
 * One project: vitest keeps a worker for the next file only when that file is of the same project,
 * and stops it otherwise. With the container suites in a project of their own, every switch
 * between the two started a fresh worker that loaded everything again (18 worker processes in
 * a run where 3 do).
 */
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // A hang detector, not a speed limit: with three files at a time on a busy 2-core machine a
    // CPU-bound test (shellcheck over every script) took 72 s where it takes 10 s alone. The
    // container suites' beforeAll give themselves longer to wait for the images' first build.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    isolate: false,
    // Transformed modules kept on disk between runs (node_modules/.experimental-vitest-cache, keyed
    // by content): a warm run transforms nothing again, ~2 s of CPU less.
    experimental: { fsModuleCache: true },
    // Vitest's default is one worker fewer than the cores (1 on 2 cores: every file in turn). Most
    // files wait on child processes, servers, containers and sleeps: with three at a time both
    // cores still idled for seconds when all three waited (warm suite 144-147 s; four: 133-139 s).
    maxWorkers: Number(process.env.SHIPSHAPE_TEST_WORKERS ?? 4),
    // The durations reporter records each file's time in whole runs, for the sequencer's plan.
    reporters: ['default', './test/support/summary-reporter.ts', './test/support/durations.ts'],
    // Longest first, one container suite at a time; container suites last while their images are
    // being built.
    sequence: { sequencer: LongestFirst },
    // The container tier's images, built once in the background from the start of the run
    // (test/containers/global-setup.ts) when the run includes the tier.
    globalSetup: ['./test/containers/global-setup.ts'],
    // SDK clients a file left mocked are restored before the next file runs in the same process.
    setupFiles: ['./test/support/shared-worker-setup.ts'],
  },
});
