/**
 * buildOnce (test/support/podman.ts): the container images are built once per machine even when
 * the global setup's background build and a suite's beforeAll ask for the same image at the same
 * time; a failed build is reported to whoever waited for it. Tags here are copies of the base image.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildOnce, engineStatus, ensureImages, IMAGES_WAIT_MS, podman } from '../support/podman.js';
import { requireEngine } from './engine.js';

const engine = engineStatus();
requireEngine(engine);

describe.runIf(engine.ok)('buildOnce', () => {
  const tag = (what: string) => `localhost/shipshape-buildonce-${what}:${process.pid}`;
  let base: string;
  beforeAll(async () => {
    const images = await ensureImages();
    base = (await podman('image', 'inspect', '--format', '{{.Id}}', images.app)).trim();
  }, IMAGES_WAIT_MS);
  afterAll(async () => {
    for (const t of [tag('twice'), tag('broken')]) await podman('rmi', '-f', t).catch(() => undefined);
  });

  it('builds an image once when two callers ask for it at the same time, and both get it', async () => {
    // Prepare
    let builds = 0;
    const build = async () => {
      builds++;
      await new Promise((r) => setTimeout(r, 1500));
      await podman('tag', base, tag('twice'));
    };
    // Act
    const [a, b] = await Promise.all([buildOnce(tag('twice'), build), buildOnce(tag('twice'), build)]);
    // Assess
    expect([a, b]).toEqual([tag('twice'), tag('twice')]);
    expect(builds).toBe(1);
    expect(await podman('image', 'exists', tag('twice')).then(() => true)).toBe(true);
  });

  it('fails for the waiting caller too when the build fails, with the builder\'s error', async () => {
    // Prepare
    const build = async () => {
      await new Promise((r) => setTimeout(r, 1500));
      throw new Error('debootstrap: mirror unreachable');
    };
    // Act
    const results = await Promise.allSettled([buildOnce(tag('broken'), build), buildOnce(tag('broken'), build)]);
    // Assess
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    const reasons = results.map((r) => String((r as PromiseRejectedResult).reason));
    expect(reasons[0]).toMatch(/debootstrap: mirror unreachable/);
    expect(reasons[1]).toMatch(/building localhost\/shipshape-buildonce-broken:\d+ failed in another process: debootstrap: mirror unreachable/);
  });
});
