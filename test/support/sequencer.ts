/**
 * The order files start in, across all projects (vitest's own sorts project by project): longest
 * first by the last run's durations, so the slow files are not the ones left running alone at the
 * end; files never run before come first, larger first. On a machine whose container images are
 * not built yet, the container suites go last, so the other tiers run while the global setup
 * builds the images in the background.
 */
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { POSTGRES_IMAGE } from '../containers/postgres-image.js';
import { imagesReady } from './podman.js';

const isContainerSuite = (f: TestSpecification) => f.moduleId.includes('/test/containers/');

export default class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const { cache, config } = this.ctx;
    const key = (f: TestSpecification) => `${f.project.name}:${relative(config.root, f.moduleId)}`;
    const imagesMissing = files.some(isContainerSuite) && !(await imagesReady([POSTGRES_IMAGE]));
    return [...files].sort((a, b) => {
      if (imagesMissing && isContainerSuite(a) !== isContainerSuite(b)) return isContainerSuite(a) ? 1 : -1;
      const da = cache.getFileTestResults(key(a))?.duration;
      const db = cache.getFileTestResults(key(b))?.duration;
      if (da === undefined && db === undefined) return (cache.getFileStats(key(b))?.size ?? 0) - (cache.getFileStats(key(a))?.size ?? 0);
      if (da === undefined || db === undefined) return da === undefined ? -1 : 1;
      return db - da;
    });
  }
}
