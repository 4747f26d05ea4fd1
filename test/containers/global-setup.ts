/**
 * Builds the container tier's images ONCE per vitest run, before any suite starts, with its
 * own generous time limit (a cold debootstrap build takes ~2 min on a loaded machine, more
 * than a hook may take). Suites call ensureImages() again, which then only finds the cached
 * tags. Runs only when the container tier is part of the run (no file filter, or a filter
 * naming test/containers); where podman cannot run, the suites fail with the reason.
 */
import { engineStatus, ensureImages } from '../support/podman.js';
import { ensurePostgresImage } from './postgres-image.js';

const BUILD_LIMIT_MS = 20 * 60_000;

function containerTierSelected(argv: string[]): boolean {
  const filters = argv.slice(2).filter((a) => !a.startsWith('-') && a !== 'run' && !a.endsWith('vitest') && !a.endsWith('vitest.mjs'));
  return filters.length === 0 || filters.some((f) => f.includes('containers'));
}

export default async function setup(): Promise<void> {
  if (!containerTierSelected(process.argv) || !engineStatus().ok) return;
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`building the container images took more than ${BUILD_LIMIT_MS / 60_000} min`)), BUILD_LIMIT_MS);
  });
  try {
    // One after the other: two debootstraps at once only slow each other down on 2 cores.
    await Promise.race([ensureImages().then(() => ensurePostgresImage()), limit]);
  } finally {
    clearTimeout(timer);
  }
}
