import type { HealthResult } from '../../lib/results/health.js';

/** A healthy result for the demo fleet's web stack; tests change one thing at a time. */
export function healthyWebResult(): HealthResult {
  return {
    schema: 'shipshape.health-check/1', stack: 'web', runId: 'run-1', hostname: 'web-1', startedAt: '2026-11-21T09:00:00Z', durationMs: 900,
    system: { disks: [{ path: '/', usedPercent: 40, availMiB: 50_000 }], memoryPercent: 30, memoryTotalMiB: 8000, cpuPercent: 10, load1: 0.4, cpus: 2 },
    busy: null,
    containers: [
      { service: 'api', container: 'web-api-1', exists: true, state: 'running', health: 'healthy', restartCount: 0, startedAt: 'x', memoryMiB: 200, cpuPercent: 1, errorLines: 0, logWindowMinutes: 60 },
      { service: 'db', container: 'web-db-1', exists: true, state: 'running', health: 'none', restartCount: 0, startedAt: 'x', memoryMiB: 300, cpuPercent: 1, errorLines: 0, logWindowMinutes: 60 },
    ],
    probes: [
      { id: 'api/process/0', service: 'api', type: 'process', target: 'node server', ok: true, status: 0, latencyMs: null, error: null },
      { id: 'api/http/0', service: 'api', type: 'http', target: 'http://127.0.0.1:8080/health', ok: true, status: 200, latencyMs: 20, error: null },
      { id: 'db/tcp/0', service: 'db', type: 'tcp', target: '127.0.0.1:5432', ok: true, status: null, latencyMs: 1, error: null },
    ],
    missingTools: [],
    errors: [],
  };
}
