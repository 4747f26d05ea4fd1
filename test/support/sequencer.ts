/**
 * The order files start in. Each free worker takes the next file, so the order is a schedule:
 * it is planned here by playing the run out with the last run's durations. Longest first, so the
 * slow files are not the ones left running alone at the end, but one container suite at a time:
 * they run long while using little CPU (they wait for podman and their containers), and three of
 * them at once left both cores half idle. Files never run before come first, larger first. On a
 * machine whose container images are not built yet, the container suites go last, so the other
 * tiers run while the global setup builds the images in the background.
 */
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { POSTGRES_IMAGE } from '../containers/postgres-image.js';
import { readDurations, WHOLE_RUN_ENV } from './durations.js';
import { imagesReady } from './podman.js';

const isContainerSuite = (f: TestSpecification) => f.moduleId.includes('/test/containers/');

/**
 * files (longest first) in the order workers should take them: whenever one is free, the longest
 * file left, or the longest other file while `maxContainers` container suites are running.
 */
export function plan<T>(files: T[], duration: (f: T) => number, isContainer: (f: T) => boolean, workers: number, maxContainers = 1): T[] {
  const left = [...files];
  const free = Array.from({ length: Math.max(1, workers) }, () => 0);
  const containerEnds: number[] = [];
  const order: T[] = [];
  while (left.length > 0) {
    const now = Math.min(...free);
    const worker = free.indexOf(now);
    const running = containerEnds.filter((end) => end > now).length;
    let next = left.findIndex((f) => !isContainer(f) || running < maxContainers);
    if (next === -1) next = 0;
    const [file] = left.splice(next, 1) as [T];
    order.push(file);
    free[worker] = now + duration(file);
    if (isContainer(file)) containerEnds.push(free[worker]!);
  }
  return order;
}

export default class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const { cache, config } = this.ctx;
    const key = (f: TestSpecification) => `${f.project.name}:${relative(config.root, f.moduleId)}`;
    const imagesMissing = files.some(isContainerSuite) && !(await imagesReady([POSTGRES_IMAGE]));
    // The durations of the last whole run (test/support/durations.ts) first; vitest's own for a
    // file that was not in it.
    const all = await this.ctx.globTestSpecifications();
    const whole = !config.testNamePattern && all.length === files.length && all.every((s) => files.some((f) => f.moduleId === s.moduleId));
    if (whole) process.env[WHOLE_RUN_ENV] = '1';
    const last = readDurations(config.root);
    const duration = (f: TestSpecification) => last[relative(config.root, f.moduleId)] ?? cache.getFileTestResults(key(f))?.duration;
    const [known, unknown] = [files.filter((f) => duration(f) !== undefined), files.filter((f) => duration(f) === undefined)];
    unknown.sort((a, b) => (cache.getFileStats(key(b))?.size ?? 0) - (cache.getFileStats(key(a))?.size ?? 0));
    known.sort((a, b) => duration(b)! - duration(a)!);
    const planned = plan(known, (f) => duration(f)!, isContainerSuite, config.maxWorkers);
    const ordered = [...unknown, ...planned];
    if (!imagesMissing) return ordered;
    return [...ordered.filter((f) => !isContainerSuite(f)), ...ordered.filter(isContainerSuite)];
  }
}
