import { specFile } from '../support/spec-file.js';
import { mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HealthResult } from '../../lib/results/health.js';
import { healthCheckSpecLines } from '../../lib/runbooks/health-check.js';
import { FakeHost, running, type FakeContainer } from '../support/fake-host.js';
import { demoFleet } from '../support/fleets.js';
import { runHostScript } from '../support/run-script.js';
import { closedPort, startHttp, startTcp } from '../support/servers.js';
import { composeContainer } from '../support/compose.js';
import { createServer, type AddressInfo } from 'node:net';

let http: Awaited<ReturnType<typeof startHttp>>;
let tcp: Awaited<ReturnType<typeof startTcp>>;
let refused: number;
let host: FakeHost | undefined;

beforeAll(async () => {
  http = await startHttp({ '/health': { status: 200 }, '/fail': { status: 500 }, '/slow': { status: 200, delayMs: 700 }, '/hang': { status: 200, delayMs: 5000 } });
  tcp = await startTcp();
  refused = await closedPort();
});
afterAll(async () => {
  await http.close();
  await tcp.close();
});
afterEach(() => host?.dispose());

function fleetFor(h: FakeHost, http: { path: string; timeoutSeconds?: number }[] = [{ path: '/health' }], tcpPort?: number) {
  return demoFleet((f) => {
    const web = f.stacks[0]!;
    web.composeDir = h.dir;
    web.services[0]!.http = http.map((p) => ({ url: `http://127.0.0.1:${httpPort()}${p.path}`, maxLatencyMs: 300, timeoutSeconds: p.timeoutSeconds ?? 5 }));
    web.services[1]!.tcp = [{ host: '127.0.0.1', port: tcpPort ?? tcp.port, timeoutSeconds: 2 }];
  });
}
const httpPort = () => http.port;

async function check(containers: Record<string, FakeContainer>, opts: { http?: { path: string; timeoutSeconds?: number }[]; tcpPort?: number; env?: Record<string, string> } = {}) {
  host = new FakeHost(containers);
  const fleet = fleetFor(host, opts.http, opts.tcpPort);
  const run = await runHostScript('health-check.sh', host.env({ SHIPSHAPE_STACK: 'web', SHIPSHAPE_RUN_ID: 'run-1', SHIPSHAPE_SPEC_FILE: specFile({ 'health-check': healthCheckSpecLines(fleet, fleet.stacks[0]!) }), ...opts.env }));
  expect(run.status, run.stderr).toBe(0);
  const parsed = HealthResult.safeParse(run.json);
  expect(parsed.success, `${run.stdout}\n${JSON.stringify(parsed.error?.issues)}`).toBe(true);
  return { result: parsed.data!, run, host: host! };
}

const healthy = () => ({
  'web-api-1': running({ processes: ['node server.js --port 8080'], logs: 'ok\nERROR: db timeout\nok\nFatal: again\n', stats: { mem: '512.5MiB / 1.944GiB', cpu: '12.50%' } }),
  'web-db-1': running({ stats: { mem: '1.5GiB / 4GiB', cpu: '3.00%' } }),
});

describe('health-check.sh against a fake docker', () => {
  it('reports a healthy stack: containers, probes, disks, memory and load', async () => {
    // Act
    const { result } = await check(healthy());
    // Assess
    expect(result).toMatchObject({ stack: 'web', runId: 'run-1', errors: [], missingTools: [] });
    expect(result.containers).toEqual([
      expect.objectContaining({ service: 'api', container: 'web-api-1', exists: true, state: 'running', health: 'healthy', restartCount: 0, memoryMiB: 512.5, cpuPercent: 12.5, errorLines: 2, logWindowMinutes: 60 }),
      expect.objectContaining({ service: 'db', container: 'web-db-1', exists: true, state: 'running', memoryMiB: 1536 }),
    ]);
    expect(result.probes.map((p) => [p.id, p.ok])).toEqual([['api/process/0', true], ['api/http/0', true], ['db/tcp/0', true]]);
    expect(result.probes.find((p) => p.type === 'http')).toMatchObject({ status: 200, error: null });
    expect(result.system.disks.map((d) => d.path)).toEqual(['/', host!.dockerRoot, host!.dir]);
    expect(result.system.memoryPercent).toBe(25);
    expect(result.system).toMatchObject({ memoryTotalMiB: 7812, load1: 0.5, cpus: 2 });
  });

  it('reports an unhealthy HEALTHCHECK', async () => {
    const c = healthy();
    c['web-api-1'].State.Health = { Status: 'unhealthy' };
    const { result } = await check(c);
    expect(result.containers[0]).toMatchObject({ state: 'running', health: 'unhealthy' });
  });

  it('reports an exited container without probing inside it', async () => {
    // Prepare
    const c = healthy();
    c['web-api-1'] = { State: { Status: 'exited', StartedAt: '2026-11-21T00:00:00Z' }, RestartCount: 4 };
    // Act
    const { result, host } = await check(c);
    // Assess
    expect(result.containers[0]).toMatchObject({ exists: true, state: 'exited', health: 'none', restartCount: 4, memoryMiB: null, errorLines: null });
    expect(result.probes[0]).toMatchObject({ id: 'api/process/0', ok: false, error: 'container web-api-1 is not running' });
    expect(host.calls().some((c) => c[0] === 'exec')).toBe(false);
    expect(host.calls().find((c) => c[0] === 'stats')).toEqual(['stats', '--no-stream', '--format', '{{.Name}}|{{.MemUsage}}|{{.CPUPerc}}', 'web-db-1']);
  });

  it('reports a restarting container', async () => {
    const c = healthy();
    c['web-db-1'] = { State: { Status: 'restarting' }, RestartCount: 17 };
    const { result } = await check(c);
    expect(result.containers[1]).toMatchObject({ state: 'restarting', restartCount: 17 });
  });

  it('reports a missing container as not existing, without an error', async () => {
    const c: Record<string, FakeContainer> = healthy();
    delete c['web-db-1'];
    const { result } = await check(c);
    expect(result.containers[1]).toMatchObject({ container: 'web-db-1', exists: false, state: null });
    expect(result.errors).toEqual([]);
  });

  it('reports a dead process and a container without pgrep differently', async () => {
    const c = healthy();
    c['web-api-1'].processes = ['sleep 100'];
    expect((await check(c)).result.probes[0]).toMatchObject({ ok: false, status: 1, error: "no process matches 'node server' in web-api-1" });
    host!.dispose();
    const d = healthy();
    delete d['web-api-1'].processes;
    expect((await check(d)).result.probes[0]).toMatchObject({ ok: false, status: 127, error: 'pgrep is not available in web-api-1' });
  });

  it('reports HTTP 500 with its status', async () => {
    const { result } = await check(healthy(), { http: [{ path: '/fail' }] });
    expect(result.probes[1]).toMatchObject({ type: 'http', ok: true, status: 500 });
  });

  it('reports a slow endpoint with its latency', async () => {
    const { result } = await check(healthy(), { http: [{ path: '/slow' }] });
    expect(result.probes[1]!.status).toBe(200);
    expect(result.probes[1]!.latencyMs).toBeGreaterThanOrEqual(650);
  });

  it('reports an endpoint that does not answer within its timeout', async () => {
    const { result } = await check(healthy(), { http: [{ path: '/hang', timeoutSeconds: 1 }] });
    expect(result.probes[1]).toMatchObject({ ok: false, status: null });
    expect(result.probes[1]!.error).toMatch(/timed out/i);
  });

  it('reports a refused HTTP connection and a closed TCP port', async () => {
    // Prepare
    const dead = await closedPort();
    host = new FakeHost(healthy());
    const fleet = demoFleet((f) => {
      f.stacks[0]!.composeDir = host!.dir;
      f.stacks[0]!.services[0]!.http = [{ url: `http://127.0.0.1:${dead}/health` }];
      f.stacks[0]!.services[1]!.tcp = [{ host: '127.0.0.1', port: refused, timeoutSeconds: 2 }];
    });
    // Act
    const run = await runHostScript('health-check.sh', host.env({ SHIPSHAPE_STACK: 'web', SHIPSHAPE_SPEC_FILE: specFile({ 'health-check': healthCheckSpecLines(fleet, fleet.stacks[0]!) }) }));
    // Assess
    const result = HealthResult.parse(run.json);
    expect(result.probes[1]).toMatchObject({ type: 'http', ok: false, status: null });
    expect(result.probes[1]!.error).toMatch(/connect/i);
    expect(result.probes[2]).toMatchObject({ type: 'tcp', ok: false, error: 'connection refused or host unreachable' });
  });

  it('keeps its JSON valid when docker prints quotes, backslashes and control characters', async () => {
    const c = healthy();
    c['web-api-1'].State = { Status: 'running', Health: { Status: 'weird"\\\u0007\u001b[31mstatus' }, StartedAt: 'x' };
    const { result } = await check(c);
    expect(result.containers[0]!.health).toBe('weird"\\??[31mstatus');
  });

  it('records host problems as errors and still prints its result', async () => {
    const { result } = await check(healthy(), { env: { SHIPSHAPE_PROC_ROOT: '/nonexistent' } });
    expect(result.errors).toContain('cannot read /nonexistent/meminfo');
    expect(result.system.memoryPercent).toBeNull();
    expect(result.containers).toHaveLength(2);
  });

  it('reports docker and curl as missing tools when the host lacks them', async () => {
    // Prepare: a PATH with only what the script needs besides docker and curl
    const bin = mkdtempSync(join(tmpdir(), 'minimal-bin-'));
    for (const tool of ['bash', 'sh', 'date', 'mktemp', 'rm', 'tr', 'head', 'df', 'awk', 'grep', 'sleep', 'cat', 'hostname', 'base64', 'timeout', 'nproc', 'sed', 'dirname']) {
      symlinkSync(execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim(), join(bin, tool));
    }
    // Act
    const { result } = await check(healthy(), { env: { PATH: bin } });
    // Assess
    expect(result.missingTools).toEqual(['docker', 'curl']);
    expect(result.containers.every((c) => !c.exists)).toBe(true);
    expect(result.probes[1]).toMatchObject({ type: 'http', ok: false, error: 'curl is not installed on the host' });
  });

  it('reports a backup or restore running on the host, and nothing when the mark is stale', async () => {
    const { writeFileSync: write, utimesSync } = await import('node:fs');
    const locks = mkdtempSync(join(tmpdir(), 'locks-'));
    write(join(locks, 'web.busy'), 'backup\n');
    expect((await check(healthy(), { env: { SHIPSHAPE_LOCK_DIR: locks } })).result.busy).toBe('backup');
    host!.dispose();
    utimesSync(join(locks, 'web.busy'), new Date(Date.now() - 2 * 86400_000), new Date(Date.now() - 2 * 86400_000));
    expect((await check(healthy(), { env: { SHIPSHAPE_LOCK_DIR: locks } })).result.busy).toBeNull();
  });

  it('reports a missing spec instead of failing', async () => {
    host = new FakeHost(healthy());
    const run = await runHostScript('health-check.sh', host.env({ SHIPSHAPE_STACK: 'web' }));
    const result = HealthResult.parse(run.json);
    expect(result.errors).toEqual(['SHIPSHAPE_SPEC_FILE is not set']);
  });

  it('reports a spec that was not fetched, naming the file', async () => {
    host = new FakeHost(healthy());
    const run = await runHostScript('health-check.sh', host.env({ SHIPSHAPE_STACK: 'web', SHIPSHAPE_SPEC_FILE: '/nonexistent/web.spec' }));
    expect(HealthResult.parse(run.json).errors[0]).toMatch(/^no spec for stack web: \/nonexistent\/web.spec was not fetched/);
  });

  it('fails when the spec has a format it does not know, and probes nothing', async () => {
    // Prepare: a format-2 spec with a probe that would run if the script guessed at it.
    host = new FakeHost(healthy());
    const fleet = fleetFor(host);
    const path = specFile({ 'health-check': healthCheckSpecLines(fleet, fleet.stacks[0]!) });
    writeFileSync(path, readFileSync(path, 'utf8').replace('shipshape-spec\t1', 'shipshape-spec\t2'));
    // Act
    const run = await runHostScript('health-check.sh', host.env({ SHIPSHAPE_STACK: 'web', SHIPSHAPE_SPEC_FILE: path }));
    // Assess
    const result = HealthResult.parse(run.json);
    expect(result.errors).toEqual(['spec format shipshape-spec?2 is not supported by this script (it reads format 1): deploy matching documents and specs']);
    expect(result.containers).toEqual([]);
    expect(result.probes).toEqual([]);
  });

  it('prints a minimal result when it is killed half way', async () => {
    // Prepare: a docker that kills the script from inside
    host = new FakeHost(healthy());
    const bin = mkdtempSync(join(tmpdir(), 'killer-bin-'));
    // Walks up to the outermost bash running health-check.sh (subshells share its command line) and sends it SIGTERM, as an SSM timeout would.
    writeFileSync(join(bin, 'docker'), '#!/bin/sh\np=$PPID; top=\'\'\nwhile [ "$p" -gt 1 ]; do\n  if grep -q health-check.sh /proc/$p/cmdline; then top=$p; fi\n  p=$(awk \'{print $4}\' /proc/$p/stat)\ndone\nkill -TERM "$top"; sleep 1\n', { mode: 0o755 });
    const fleet = fleetFor(host);
    // Act
    const run = await runHostScript('health-check.sh', host.env({ PATH: `${bin}:${process.env.PATH}`, SHIPSHAPE_STACK: 'web', SHIPSHAPE_SPEC_FILE: specFile({ 'health-check': healthCheckSpecLines(fleet, fleet.stacks[0]!) }) }));
    // Assess
    const result = HealthResult.parse(run.json);
    expect(result.errors[0]).toMatch(/aborted with exit code/);
  });

  it('resolves compose service names to their containers, every container of a scaled service', async () => {
    // Prepare: the config names compose services; compose named the containers shop-<service>-<n>
    host = new FakeHost({ ...composeContainer('shop', 'api', 1, { processes: ['node server.js'] }), ...composeContainer('shop', 'api', 2, { processes: ['node server.js'] }), ...composeContainer('shop', 'db', 1) });
    const fleet = demoFleet((f) => {
      const web = f.stacks[0]!;
      web.composeProject = 'shop';
      web.services = [{ ...web.services[0]!, container: 'api', http: [], process: [{ pattern: 'node server' }] }, { ...web.services[1]!, container: 'db', tcp: [] }];
    });
    // Act
    const run = await runHostScript('health-check.sh', host.env({ SHIPSHAPE_STACK: 'web', SHIPSHAPE_SPEC_FILE: specFile({ compose: [['project', 'shop', '-']], 'health-check': healthCheckSpecLines(fleet, fleet.stacks[0]!) }) }));
    // Assess
    const result = HealthResult.parse(run.json);
    expect(result.containers.map((c) => [c.service, c.ref, c.container, c.exists])).toEqual([['api', 'api', 'shop-api-1', true], ['api', 'api', 'shop-api-2', true], ['db', 'db', 'shop-db-1', true]]);
    expect(result.probes).toEqual([expect.objectContaining({ id: 'api/process/0', ok: true })]);
    expect(host.calls().filter((c) => c[0] === 'exec').map((c) => c[1])).toEqual(['shop-api-1', 'shop-api-2']);
    // One listing of the project for both services, one inspect for the three containers (a docker CLI start-up each on a host)
    expect(host.calls().filter((c) => c[0] === 'ps')).toHaveLength(1);
    expect(host.calls().filter((c) => c[0] === 'inspect' && c[2]!.startsWith('{{.Name}}|{{.Id}}|')).map((c) => c.slice(3))).toEqual([['shop-api-1', 'shop-api-2', 'shop-db-1']]);
  });

  it('reads a container named by its ID, and reports one that is gone as not existing, without an error', async () => {
    // Prepare
    host = new FakeHost({ legacy_db: running({ Id: 'c0ffee0123456789' }) });
    const fleet = demoFleet((f) => {
      f.stacks[0]!.services = [{ ...f.stacks[0]!.services[0]!, container: 'c0ffee01', http: [], process: [] }, { ...f.stacks[0]!.services[1]!, container: 'gone', tcp: [] }];
    });
    // Act
    const run = await runHostScript('health-check.sh', host.env({ SHIPSHAPE_STACK: 'web', SHIPSHAPE_SPEC_FILE: specFile({ 'health-check': healthCheckSpecLines(fleet, fleet.stacks[0]!) }) }));
    // Assess
    const result = HealthResult.parse(run.json);
    expect(result.containers.map((c) => [c.container, c.exists, c.state])).toEqual([['c0ffee01', true, 'running'], ['gone', false, null]]);
    expect(result.errors.filter((e) => e.includes('inspect'))).toEqual([]);
  });

  it('reports a name that does not resolve with what it looked for and what exists', async () => {
    // Prepare
    host = new FakeHost({ ...composeContainer('shop', 'api'), ...composeContainer('shop', 'db') });
    const fleet = demoFleet((f) => {
      f.stacks[0]!.services = [{ ...f.stacks[0]!.services[0]!, container: 'apii', http: [], process: [] }];
    });
    // Act
    const run = await runHostScript('health-check.sh', host.env({ SHIPSHAPE_STACK: 'web', SHIPSHAPE_SPEC_FILE: specFile({ compose: [['project', 'shop', '-']], 'health-check': healthCheckSpecLines(fleet, fleet.stacks[0]!) }) }));
    // Assess
    const c = HealthResult.parse(run.json).containers[0]!;
    expect(c).toMatchObject({ container: 'apii', exists: false });
    expect(c.resolveError).toContain("looked for compose service 'apii' of project 'shop'");
    expect(c.resolveError).toContain('services of project \'shop\': api, db');
  });

  it('counts restarts between two checks, with the last exit code and the OOM kill', async () => {
    // Prepare: a first check sees 2 restarts; by the second the restart policy restarted it 5 more times
    const first = healthy();
    first['web-db-1'] = running({ RestartCount: 2, State: { Status: 'running', StartedAt: '2026-11-22T10:00:00Z', ExitCode: 137, OOMKilled: true } as FakeContainer['State'] });
    const { host: h1 } = await check(first);
    const stateDir = h1.env().SHIPSHAPE_STATE_DIR!;
    const second = healthy();
    second['web-db-1'] = running({ RestartCount: 7, State: { Status: 'running', StartedAt: '2026-11-22T10:14:00Z', ExitCode: 137, OOMKilled: true } as FakeContainer['State'] });
    // Act
    const { result } = await check(second, { env: { SHIPSHAPE_STATE_DIR: stateDir } });
    // Assess
    expect(result.containers[1]).toMatchObject({ container: 'web-db-1', restartCount: 7, restartsSincePreviousCheck: 5, lastExitCode: 137, oomKilled: true, startedAt: '2026-11-22T10:14:00Z' });
    expect(result.containers[1]!.previousCheckAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(result.containers[0]).toMatchObject({ restartsSincePreviousCheck: 0, oomKilled: false });
  });

  it('asks curl for exactly the URL written, brackets and braces included (--globoff)', async () => {
    // Prepare
    const url = `http://127.0.0.1:${http.port}/items[1-3]`;
    http.routes['/items[1-3]'] = { status: 204 };
    host = new FakeHost(healthy());
    const fleet = demoFleet((f) => { f.stacks[0]!.services[0]!.http = [{ url }]; f.stacks[0]!.services[0]!.process = []; });
    // Act
    const run = await runHostScript('health-check.sh', host.env({ SHIPSHAPE_STACK: 'web', SHIPSHAPE_SPEC_FILE: specFile({ 'health-check': healthCheckSpecLines(fleet, fleet.stacks[0]!) }) }));
    // Assess: one request for the literal path (a glob would have asked for /items1, /items2 and /items3: 404s)
    expect(HealthResult.parse(run.json).probes[0]).toMatchObject({ type: 'http', target: url, ok: true, status: 204 });
  });

  it('runs probes concurrently and names the ones still waiting when the time budget runs out', async () => {
    // Prepare: 31 endpoints that accept the connection and never answer, one that does
    const sockets: import('node:net').Socket[] = [];
    const silent = createServer((s) => { sockets.push(s); });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as AddressInfo).port;
    host = new FakeHost(healthy());
    const fleet = demoFleet((f) => {
      f.stacks[0]!.services[0]!.process = [];
      f.stacks[0]!.services[0]!.http = [{ url: `http://127.0.0.1:${http.port}/health`, timeoutSeconds: 5 }, ...Array.from({ length: 31 }, (_, i) => ({ url: `http://127.0.0.1:${port}/hang/${i}`, timeoutSeconds: 60 }))];
    });
    // Act
    // The budget counts from the script's start (container checks included): 10 s leaves the one
    // answering probe time to finish on a loaded machine (4 s did not, in a fresh-machine run).
    const run = await runHostScript('health-check.sh', host.env({ SHIPSHAPE_STACK: 'web', SHIPSHAPE_PROBE_BUDGET_SECONDS: '10', SHIPSHAPE_PROBE_PARALLEL: '8', SHIPSHAPE_SPEC_FILE: specFile({ 'health-check': healthCheckSpecLines(fleet, fleet.stacks[0]!) }) }), 60_000);
    for (const s of sockets) s.destroy();
    silent.close();
    // Assess
    const result = HealthResult.parse(run.json);
    expect(result.probes[0]).toMatchObject({ id: 'api/http/0', ok: true, status: 200, waiting: false });
    const waiting = result.probes.filter((p) => p.waiting);
    expect(waiting.filter((p) => p.id.startsWith('api/')).map((p) => p.id)).toEqual(Array.from({ length: 31 }, (_, i) => `api/http/${i + 1}`));
    expect(result.probesWaiting).toEqual(waiting.map((p) => p.id));
    expect(waiting[0]!.error).toBe("no answer before the health check's time budget of 10s ran out");
    // 8 at once: the probes queued behind the hanging ones never started, and say so.
    expect(waiting.at(-1)!.error).toBe("not started before the health check's time budget of 10s ran out");
    expect(result.probeBudgetSeconds).toBe(10);
  });
});
