/** Findings of the apply-secret evaluator: applied, already in place, failed, malformed output; never the value. */
import { describe, expect, it } from 'vitest';
import { evaluateApplySecret, type ApplySecretResult } from '../../../lambdas/result/evaluate-apply-secret.js';
import { APPLY_SECRET } from '../../../lib/runbooks/names.js';
import { evaluateStdout, header } from '../../support/evaluate.js';
import { demoFleet } from '../../support/fleets.js';

const fleet = demoFleet();
const stack = fleet.stacks[0]!;

function applied(change: Partial<ApplySecretResult> = {}): ApplySecretResult {
  return {
    ...header, schema: 'shipshape.apply-secret/1', secret: 'jwt', stage: 'AWSPENDING', file: '/opt/web/.env.production', changed: true,
    restarts: [{ container: 'web-api-1', ok: true, state: 'running', health: 'healthy' }], errors: [], ...change,
  };
}

describe('apply-secret evaluator', () => {
  it('reports an applied secret as ok', () => {
    // Act
    const findings = evaluateApplySecret(applied(), fleet, stack);
    // Assess
    expect(findings).toEqual([{ check: 'secret.apply', target: 'jwt', severity: 'ok', observed: 'applied', threshold: null, message: 'AWSPENDING of jwt is in place on i-0123456789abcdef0' }]);
  });

  it('fails with one critical finding per container that does not hold the applied value', () => {
    // Prepare
    const result = applied({ delivery: 'recreate', verified: false, errors: ['web-api-2 does not hold the AWSPENDING value'], containers: [
      { container: 'web-api-1', service: 'api', matches: true, state: 'running', health: 'healthy', problem: null },
      { container: 'web-api-2', service: 'api', matches: false, state: 'running', health: 'healthy', problem: null },
    ] });
    // Act
    const findings = evaluateApplySecret(result, fleet, stack);
    // Assess
    expect(findings).toEqual([{ check: 'secret.delivery', target: 'jwt (web-api-2)', severity: 'critical', observed: 'old or other value', threshold: 'AWSPENDING value',
      message: 'web-api-2 on i-0123456789abcdef0 does not hold the AWSPENDING value of jwt after recreate' }]);
  });

  it('reports a secret that was already in place as ok, without a change', () => {
    // Act
    const findings = evaluateApplySecret(applied({ changed: false, restarts: [] }), fleet, stack);
    // Assess
    expect(findings).toEqual([expect.objectContaining({ severity: 'ok', observed: 'already in place' })]);
  });

  it('fails when applying fails: one critical finding with every error', () => {
    // Prepare
    const result = applied({ changed: true, restarts: [{ container: 'web-api-1', ok: false, state: 'exited', health: 'none' }],
      errors: ['web-api-1 is not running after the restart', 'the previous value was written back'] });
    // Act
    const findings = evaluateApplySecret(result, fleet, stack);
    // Assess
    expect(findings).toEqual([expect.objectContaining({ check: 'secret.apply', target: 'jwt', severity: 'critical', observed: 'web-api-1 is not running after the restart', threshold: 'applied' })]);
    expect(findings[0]!.message).toBe('applying AWSPENDING of jwt on i-0123456789abcdef0 failed: web-api-1 is not running after the restart; the previous value was written back');
  });

  it('fails when a receiving container still holds another value: one critical secret.delivery per container, whatever else passed', () => {
    // Prepare
    const result = applied({ containers: [
      { container: 'web-api-1', service: 'api', matches: true, state: 'running', health: 'healthy', problem: null },
      { container: 'web-api-2', service: 'api', matches: false, state: 'running', health: 'healthy', problem: 'the env file is not mounted' },
    ] });
    // Act
    const findings = evaluateApplySecret(result, fleet, stack);
    // Assess
    expect(findings).toEqual([expect.objectContaining({ check: 'secret.delivery', target: 'jwt (web-api-2)', severity: 'critical', threshold: 'AWSPENDING value' })]);
    expect(findings[0]!.message).toContain('the env file is not mounted');
  });

  it('fails when the host printed a malformed apply-secret result, and the finding does not echo extra fields', () => {
    // Prepare: a result that carries a value it must never print, and lacks `changed`.
    const { changed: _, ...rest } = applied();
    const bad = { ...rest, value: 'hunter2-secret-value' };
    // Act
    const evaluation = evaluateStdout(APPLY_SECRET, JSON.stringify(bad), fleet);
    // Assess
    expect(evaluation.findings).toEqual([expect.objectContaining({ check: 'run.output', severity: 'critical' })]);
    expect(evaluation.findings[0]!.observed).toMatch(/apply-secret result schema at changed/);
    expect(JSON.stringify(evaluation)).not.toContain('hunter2-secret-value');
  });
});
