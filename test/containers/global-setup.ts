/**
 * Builds the container tier's images ONCE per vitest run, starting before any suite, with its
 * own generous time limit (a cold debootstrap build takes ~2 min on a loaded machine, more than a
 * hook may take). The builds run in the background while the other tiers' files run: on a cold
 * machine the sequencer (test/support/sequencer.ts) starts the container suites last, and a suite
 * that gets there before its image is ready waits for this build (buildOnce's lock in
 * test/support/podman.ts) instead of starting another. The teardown waits for the build and
 * reports its failure. Runs only when the container tier is part of the run (no file filter, or a
 * filter naming test/containers); where podman cannot run, the suites fail with the reason.
 */
import { clearBuildLocks, engineStatus, ensureImages, IMAGES_WAIT_MS } from '../support/podman.js';
import { ensurePostgresImage } from './postgres-image.js';

const BUILD_LIMIT_MS = IMAGES_WAIT_MS;

function containerTierSelected(argv: string[]): boolean {
  const filters = argv.slice(2).filter((a) => !a.startsWith('-') && a !== 'run' && !a.endsWith('vitest') && !a.endsWith('vitest.mjs'));
  return filters.length === 0 || filters.some((f) => f.includes('containers'));
}

export default function setup(): (() => Promise<void>) | undefined {
  if (!containerTierSelected(process.argv) || !engineStatus().ok) return undefined;
  process.env.SHIPSHAPE_ENGINE_OK = '1';
  // A failed build of an earlier run leaves its error for that run's waiters only.
  clearBuildLocks();
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`building the container images took more than ${BUILD_LIMIT_MS / 60_000} min`)), BUILD_LIMIT_MS);
  });
  // One after the other: two debootstraps at once only slow each other down on 2 cores.
  const building = Promise.race([ensureImages().then(() => ensurePostgresImage()), limit]).finally(() => clearTimeout(timer));
  // Waiting suites learn of a failure through the lock; the teardown reports it for the run.
  building.catch(() => undefined);
  return async () => {
    await building;
  };
}
