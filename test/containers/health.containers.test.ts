/**
 * health-check.sh through the synthesized document, against real containers (podman behind
 * a `docker` shim): each fault is caused for real and must give exactly its finding.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateHealth } from '../../lambdas/result/evaluate-health.js';
import type { Fleet } from '../../lib/config/schema.js';
import { failing } from '../../lib/results/findings.js';
import { HealthResult } from '../../lib/results/health.js';
import { documentsOf, runDocument, type CommandDocument } from '../support/document-runner.js';
import { demoFleet } from '../support/fleets.js';
import { engineStatus, ensureImages, IMAGES_WAIT_MS, podman, PodmanStack, SHIM_BIN, waitFor } from '../support/podman.js';
import { closedPort } from '../support/servers.js';
import { synthFleet } from '../support/synth.js';
import { requireEngine } from './engine.js';
import { fleetSpecs } from '../../lib/runbooks/spec.js';

const engine = engineStatus();
requireEngine(engine);

describe.runIf(engine.ok)('health check against real containers', () => {
  const stack = new PodmanStack(`ship${process.pid}`);
  let port: number;
  let fleet: Fleet;
  let doc: CommandDocument;
  const web = () => stack.containerName('web');
  const proc = () => stack.containerName('sigul');

  beforeAll(async () => {
    const images = await ensureImages();
    port = await closedPort();
    await stack.up([
      // One batch and no more: nothing here reads the database, and the writer's loop costs ~8 % of
      // a core for as long as it runs.
      { service: 'web', image: images.app, port, volume: 'data', healthCmd: 'test ! -f /run/healthcheck-fail', env: { WRITER_SLEEP: '3600' } },
      { service: 'sigul', image: images.proc },
    ]);
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined))?.status === 200, 'the web service to answer');
    fleet = demoFleet((f) => {
      f.stacks[0]!.composeDir = undefined;
      f.stacks[0]!.services = [
        { name: 'web', container: web(), memoryMiB: { warning: 4096 }, logs: { pattern: 'ERROR', windowMinutes: 60, lines: { warning: 1, critical: 50 } },
          http: [{ url: `http://127.0.0.1:${port}/health`, maxLatencyMs: 2000, timeoutSeconds: 2 }] },
        { name: 'sigul', container: proc(), process: [{ pattern: 'sigul_server' }] },
      ];
      // No host thresholds at all: a saturated CI machine reaches any percentage.
      f.defaults = { thresholds: { diskPercent: {}, memoryPercent: {}, cpuPercent: {}, loadPerCpu: {} } };
    });
    doc = Object.values(documentsOf(synthFleet(fleet).template.toJSON() as never))[0]!;
  }, IMAGES_WAIT_MS);
  afterAll(() => stack.down());

  // pgrep run directly: through `sh -c` it would find the shell's own command line.
  const daemonRuns = () => podman('exec', proc(), 'pgrep', '-f', 'sigul_server').then(() => true, () => false);

  async function check() {
    await stack.runHealthchecks();
    const run = await runDocument(doc, { Stack: 'web', RunId: 'containers' }, { env: { PATH: `${SHIM_BIN}:${process.env.PATH}` }, specs: fleetSpecs(fleet) });
    expect(run.status, run.stderr).toBe('Success');
    const result = HealthResult.parse(JSON.parse(run.stdout));
    return { result, bad: failing(evaluateHealth(result, fleet, fleet.stacks[0]!)).map((f) => [f.severity, f.check, f.target.split(' ')[0]]) };
  }

  it('finds nothing wrong with a healthy stack, and reads state, health and memory from the engine', async () => {
    const { result, bad } = await check();
    expect(bad).toEqual([]);
    expect(result.containers[0]).toMatchObject({ state: 'running', health: 'healthy', errorLines: 0 });
    expect(result.containers[0]!.memoryMiB).toBeGreaterThan(0);
    expect(result.probes.map((p) => [p.type, p.ok])).toEqual([['http', true], ['process', true]]);
  });

  it('gives exactly probe.http when /health answers 500', async () => {
    await fetch(`http://127.0.0.1:${port}/control/500`);
    try {
      expect((await check()).bad).toEqual([['critical', 'probe.http', 'web:']]);
    } finally {
      await fetch(`http://127.0.0.1:${port}/control/ok`);
    }
  });

  it('gives exactly container.health when the HEALTHCHECK fails', async () => {
    await podman('exec', web(), 'touch', '/run/healthcheck-fail');
    try {
      expect((await check()).bad).toEqual([['critical', 'container.health', 'web']]);
    } finally {
      await podman('exec', web(), 'rm', '-f', '/run/healthcheck-fail');
    }
    expect((await check()).bad).toEqual([]);
  });

  it('gives exactly probe.process when the daemon inside dies', async () => {
    await podman('exec', proc(), 'pkill', '-f', 'sigul_server');
    await waitFor(async () => !(await daemonRuns()), 'sigul_server to exit');
    expect((await check()).bad).toEqual([['critical', 'probe.process', 'sigul:']]);
  });

  it('gives exactly container.state when a container is stopped, and nothing once it is started again', async () => {
    await podman('stop', '-t', '0', proc());
    expect((await check()).bad).toEqual([['critical', 'container.state', 'sigul']]);
    await podman('start', proc());
    await waitFor(daemonRuns, 'sigul_server to start');
    expect((await check()).bad).toEqual([]);
  });

  it('gives exactly container.logs when the service logs errors', async () => {
    await fetch(`http://127.0.0.1:${port}/emit/3`);
    const { bad, result } = await check();
    expect(bad).toEqual([['warning', 'container.logs', 'web']]);
    expect(result.containers[0]!.errorLines).toBe(3);
  });
});
