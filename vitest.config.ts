import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // The container tier's images, built once before any suite (test/containers/global-setup.ts).
    globalSetup: ['./test/containers/global-setup.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
