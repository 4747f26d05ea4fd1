import { describe, expect, it } from 'vitest';
import { against, evaluateHealth } from '../../../lambdas/result/evaluate-health.js';
import { failing } from '../../../lib/results/findings.js';
import { demoFleet } from '../../support/fleets.js';
import { healthyWebResult } from '../../support/results.js';

const fleet = demoFleet();
const web = fleet.stacks[0]!;
const bad = (r = healthyWebResult()) => failing(evaluateHealth(r, fleet, web)).map((f) => [f.severity, f.check, f.target]);

describe('evaluateHealth', () => {
  it('finds nothing wrong with a healthy host, and still lists every check it made', () => {
    const findings = evaluateHealth(healthyWebResult(), fleet, web);
    expect(failing(findings)).toEqual([]);
    expect(findings.map((f) => f.check)).toEqual(expect.arrayContaining(['host.disk', 'host.memory', 'host.cpu', 'host.load', 'container.state', 'container.health', 'container.logs', 'probe.process', 'probe.http', 'probe.latency', 'probe.tcp']));
  });

  it('is critical when a critical service is down and a warning when an optional one is', () => {
    // Prepare
    const r = healthyWebResult();
    r.containers[0]!.state = 'exited';
    const batch = fleet.stacks[1]!;
    const worker = { ...healthyWebResult(), stack: 'batch', probes: [], containers: [{ ...r.containers[0]!, service: 'worker', container: 'batch-worker-1' }] };
    // Act + Assess
    expect(bad(r)).toContainEqual(['critical', 'container.state', 'api (web-api-1)']);
    expect(failing(evaluateHealth(worker, fleet, batch)).map((f) => [f.severity, f.check])).toEqual([['warning', 'container.state']]);
  });

  it('reports an unhealthy HEALTHCHECK, a missing container and a container the host did not report', () => {
    const r = healthyWebResult();
    r.containers[0]!.health = 'unhealthy';
    r.containers[1]!.exists = false;
    expect(bad(r)).toEqual([['critical', 'container.health', 'api (web-api-1)'], ['critical', 'container.exists', 'db (web-db-1)']]);
    r.containers = [r.containers[0]!];
    expect(bad(r)).toContainEqual(['warning', 'container.reported', 'db (web-db-1)']);
  });

  it('compares HTTP status with the expected one and latency with its limit', () => {
    const r = healthyWebResult();
    r.probes[1] = { ...r.probes[1]!, status: 500, latencyMs: 900 };
    const findings = failing(evaluateHealth(r, fleet, web));
    expect(findings.map((f) => [f.severity, f.check, f.observed, f.threshold])).toEqual([
      ['critical', 'probe.http', 500, 'HTTP 200'],
      ['warning', 'probe.latency', 900, '500 ms'],
    ]);
    expect(findings[0]!.message).toBe('http://127.0.0.1:8080/health answered 500, expected 200');
  });

  it('does not report the processes of a stopped container a second time', () => {
    const r = healthyWebResult();
    r.containers[0]!.state = 'exited';
    r.probes[0] = { ...r.probes[0]!, ok: false, error: 'container web-api-1 is not running' };
    expect(bad(r)).toEqual([['critical', 'container.state', 'api (web-api-1)']]);
  });

  it('reports probes that failed or were not reported', () => {
    const r = healthyWebResult();
    r.probes[0] = { ...r.probes[0]!, ok: false, status: 127, error: 'pgrep is not available in web-api-1' };
    r.probes[2] = { ...r.probes[2]!, ok: false, error: 'connection refused or host unreachable' };
    r.probes.splice(1, 1);
    expect(bad(r)).toEqual([
      ['warning', 'probe.process', 'api: node server'],
      ['warning', 'probe.reported', 'api: api/http/0'],
      ['critical', 'probe.tcp', 'db: 127.0.0.1:5432'],
    ]);
  });

  it('applies host thresholds at or above each level', () => {
    const r = healthyWebResult();
    r.system.disks = [{ path: '/', usedPercent: 80, availMiB: 100 }, { path: '/var/lib/docker', usedPercent: 90, availMiB: 10 }];
    r.system.memoryPercent = 96;
    r.system.cpuPercent = 89.9;
    r.system.load1 = 9;
    expect(bad(r)).toEqual([
      ['warning', 'host.disk', '/'],
      ['critical', 'host.disk', '/var/lib/docker'],
      ['critical', 'host.memory', 'memory'],
      ['critical', 'host.load', 'load'],
    ]);
  });

  it('applies per-service memory and log thresholds from the config', () => {
    const f = demoFleet((i) => {
      i.stacks[0]!.services[0]!.memoryMiB = { warning: 1024, critical: 2048 };
      i.stacks[0]!.services[0]!.logs = { pattern: 'error', windowMinutes: 30, lines: { warning: 5, critical: 50 } };
    });
    const r = healthyWebResult();
    r.containers[0]!.memoryMiB = 3000;
    r.containers[0]!.errorLines = 7;
    const findings = failing(evaluateHealth(r, f, f.stacks[0]!));
    expect(findings.map((x) => [x.severity, x.check, x.observed, x.threshold])).toEqual([
      ['critical', 'container.memory', 3000, 'warning 1024 MiB, critical 2048 MiB'],
      ['warning', 'container.logs', 7, 'warning 5 lines, critical 50 lines'],
    ]);
  });

  it('is critical when docker is missing and warns about script errors', () => {
    const r = healthyWebResult();
    r.missingTools = ['docker', 'curl'];
    r.errors = ['cannot read /proc/meminfo'];
    r.containers = [];
    expect(bad(r)).toEqual([
      ['critical', 'host.tool', 'docker'],
      ['warning', 'host.tool', 'curl'],
      ['warning', 'host.script', 'health-check.sh'],
    ]);
  });

  it('treats missing values as unknown, not as a breach', () => {
    expect(against(null, { warning: 1 })).toBe('ok');
    expect(against(5, undefined)).toBe('ok');
    expect(against(5, { critical: 5 })).toBe('critical');
  });

  it('finds a crash loop from the restarts between two checks, with the exit code and the OOM kill', () => {
    // Prepare: up at check time, but restarted 4 times since the previous check
    const r = healthyWebResult();
    r.containers[1] = { ...r.containers[1]!, restartCount: 9, restartsSincePreviousCheck: 4, previousCheckAt: '2026-11-22T10:00:00Z', startedAt: '2026-11-22T10:14:02Z', lastExitCode: 137, oomKilled: true };
    // Act
    const found = failing(evaluateHealth(r, fleet, web));
    // Assess
    expect(found.map((f) => [f.severity, f.check, f.target, f.observed, f.threshold])).toEqual([['critical', 'container.restarts', 'db (web-db-1)', 4, 'warning 1 restarts, critical 3 restarts']]);
    expect(found[0]!.message).toBe('container web-db-1 restarted 4 times since the previous check (2026-11-22T10:00:00Z), last start 2026-11-22T10:14:02Z, last exit code 137, OOM-killed');
  });

  it('uses the service\'s restart thresholds and reports no restarts as ok', () => {
    // Prepare
    const tolerant = demoFleet((f) => { f.stacks[0]!.services[1]!.restarts = { warning: 5 }; });
    const r = healthyWebResult();
    r.containers[0] = { ...r.containers[0]!, restartsSincePreviousCheck: 0 };
    r.containers[1] = { ...r.containers[1]!, restartsSincePreviousCheck: 2, lastExitCode: 1, oomKilled: false };
    // Act
    const findings = evaluateHealth(r, tolerant, tolerant.stacks[0]!).filter((f) => f.check === 'container.restarts');
    // Assess
    expect(findings.map((f) => [f.severity, f.target])).toEqual([['ok', 'api (web-api-1)'], ['ok', 'db (web-db-1)']]);
  });

  it('evaluates every container of a scaled compose service and says why a name did not resolve', () => {
    // Prepare
    const r = healthyWebResult();
    r.containers = [
      { ...r.containers[0]!, ref: 'api', container: 'shop-api-1' },
      { ...r.containers[0]!, ref: 'api', container: 'shop-api-2', state: 'exited', lastExitCode: 1 },
      { ...r.containers[1]!, ref: 'dbb', container: 'dbb', exists: false, state: null, resolveError: "no container for 'dbb': looked for compose service 'dbb' of project 'shop' ...; found services of project 'shop': api, db" },
    ];
    // Act
    const found = failing(evaluateHealth(r, fleet, web));
    // Assess
    expect(found.map((f) => [f.severity, f.check, f.target])).toEqual([['critical', 'container.state', 'api (shop-api-2)'], ['critical', 'container.exists', 'db (dbb)']]);
    expect(found[0]!.message).toBe('container shop-api-2 is exited (restarts: 0, last exit code 1)');
    expect(found[1]!.message).toContain("found services of project 'shop': api, db");
  });

  it('names each probe still waiting when the time budget ran out', () => {
    // Prepare
    const r = { ...healthyWebResult(), probeBudgetSeconds: 270, probesWaiting: ['api/http/0'] };
    r.probes[1] = { ...r.probes[1]!, ok: false, status: null, error: "no answer before the health check's time budget of 270s ran out", waiting: true };
    // Act
    const found = failing(evaluateHealth(r, fleet, web));
    // Assess
    expect(found.map((f) => [f.severity, f.check, f.target, f.threshold])).toEqual([['warning', 'probe.timeout', 'api: api/http/0', 'within 270 s']]);
    expect(found[0]!.message).toContain('probe api/http/0 (http://127.0.0.1:8080/health) was still waiting');
  });
});
