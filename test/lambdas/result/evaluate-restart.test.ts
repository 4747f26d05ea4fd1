/** Findings of the restart evaluator: back and healthy, not back, refused while busy, other errors, malformed output. */
import { describe, expect, it } from 'vitest';
import { evaluateRestart } from '../../../lambdas/result/evaluate-restart.js';
import { failing } from '../../../lib/results/findings.js';
import type { RestartResult } from '../../../lib/results/restart.js';
import { RESTART } from '../../../lib/runbooks/names.js';
import { evaluateStdout, header } from '../../support/evaluate.js';
import { demoFleet } from '../../support/fleets.js';

const fleet = demoFleet();
const stack = fleet.stacks[0]!;
type Service = RestartResult['services'][number];

const api = (change: Partial<Service> = {}): Service => ({ service: 'api', container: 'web-api-1', ok: true, state: 'running', health: 'healthy', waitedMs: 3000, error: null, ...change });
const db = (change: Partial<Service> = {}): Service => ({ service: 'db', container: 'web-db-1', ok: true, state: 'running', health: 'none', waitedMs: 800, error: null, ...change });

function restart(change: Partial<RestartResult> = {}): RestartResult {
  return { ...header, schema: 'shipshape.restart/1', busy: null, services: [api(), db()], errors: [], ...change };
}

describe('restart evaluator', () => {
  it('reports every service back as ok: healthy, or running when it has no healthcheck', () => {
    // Act
    const findings = evaluateRestart(restart(), fleet, stack);
    // Assess
    expect(findings.map((f) => [f.check, f.target, f.severity, f.observed])).toEqual([
      ['restart.service', 'api', 'ok', 'running/healthy'],
      ['restart.service', 'db', 'ok', 'running/none'],
    ]);
    expect(findings.map((f) => f.message)).toEqual(['api restarted and is healthy', 'db restarted and is running']);
  });

  it('fails when a service does not come back: critical for it, its error not repeated as restart.run', () => {
    // Prepare
    const result = restart({ services: [api({ ok: false, state: 'running', health: 'unhealthy', error: 'not healthy after 120 s' }), db()], errors: ['api: not healthy after 120 s'] });
    // Act
    const findings = failing(evaluateRestart(result, fleet, stack));
    // Assess
    expect(findings).toEqual([expect.objectContaining({ check: 'restart.service', target: 'api', severity: 'critical', observed: 'running/unhealthy', threshold: 'running and healthy' })]);
    expect(findings[0]!.message).toBe('api (web-api-1) did not come back after a restart: not healthy after 120 s');
  });

  it('fails when the host was busy with a backup: a warning, since nothing was restarted', () => {
    // Prepare
    const result = restart({ busy: 'backup', services: [], errors: ['a backup is running on this host; nothing was restarted'] });
    // Act
    const findings = evaluateRestart(result, fleet, stack);
    // Assess
    expect(findings).toEqual([expect.objectContaining({ check: 'restart.run', target: 'i-0123456789abcdef0', severity: 'warning' })]);
  });

  it('fails when the run itself failed outside any service: critical restart.run', () => {
    // Prepare
    const result = restart({ services: [], errors: ['docker: Cannot connect to the Docker daemon'] });
    // Act
    const findings = evaluateRestart(result, fleet, stack);
    // Assess
    expect(findings).toEqual([expect.objectContaining({ check: 'restart.run', severity: 'critical', observed: 'docker: Cannot connect to the Docker daemon' })]);
  });

  it('fails when the host printed a malformed restart result: one critical run.output', () => {
    // Prepare
    const { services: _, ...bad } = restart();
    // Act
    const evaluation = evaluateStdout(RESTART, JSON.stringify(bad), fleet);
    // Assess
    expect(evaluation.complete).toBe(false);
    expect(evaluation.findings).toEqual([expect.objectContaining({ check: 'run.output', severity: 'critical' })]);
    expect(evaluation.findings[0]!.observed).toMatch(/restart result schema at services/);
  });
});
