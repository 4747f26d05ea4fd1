/** Findings of the maintenance evaluator: done, a database that failed, pruning that failed, a run error, malformed output. */
import { describe, expect, it } from 'vitest';
import { evaluateMaintenance } from '../../../lambdas/result/evaluate-maintenance.js';
import { failing } from '../../../lib/results/findings.js';
import type { MaintenanceResult } from '../../../lib/results/maintenance.js';
import { MAINTENANCE } from '../../../lib/runbooks/names.js';
import { evaluateStdout, header } from '../../support/evaluate.js';
import { demoFleet } from '../../support/fleets.js';

const fleet = demoFleet();
const stack = fleet.stacks[0]!;
type Database = MaintenanceResult['sqlite'][number];

const appDb = (change: Partial<Database> = {}): Database => ({ name: 'app-db', container: 'web-api-1', operations: 'vacuum,analyze,reindex', ok: true, stopped: true, integrity: 'ok', health: 'healthy', error: null, rolledBack: null, ...change });

function maintenance(change: Partial<MaintenanceResult> = {}): MaintenanceResult {
  return {
    ...header, schema: 'shipshape.maintenance/1', backupPrefix: 'backups/web/i-0123456789abcdef0/2026-11-22T02:00:00Z/', sqlite: [appDb()],
    prune: [{ what: 'images', ok: true, reclaimed: '1.2GB' }, { what: 'containers', ok: true, reclaimed: null }], errors: [], ...change,
  };
}

describe('maintenance evaluator', () => {
  it('reports operations and pruning as ok, with what was reclaimed', () => {
    // Act
    const findings = evaluateMaintenance(maintenance(), fleet, stack);
    // Assess
    expect(findings.map((f) => [f.check, f.target, f.severity, f.observed])).toEqual([
      ['maintenance.sqlite', 'app-db', 'ok', 'vacuum,analyze,reindex'],
      ['maintenance.prune', 'images', 'ok', '1.2GB'],
      ['maintenance.prune', 'containers', 'ok', null],
    ]);
    expect(findings[2]!.message).toBe('pruned containers, reclaimed 0B');
  });

  it('fails when a database operation fails: critical, naming the checked backup taken first; its error not repeated', () => {
    // Prepare
    const result = maintenance({ sqlite: [appDb({ ok: false, integrity: null, error: 'VACUUM: database or disk is full' })], errors: ['app-db: VACUUM: database or disk is full'] });
    // Act
    const findings = failing(evaluateMaintenance(result, fleet, stack));
    // Assess
    expect(findings).toEqual([expect.objectContaining({ check: 'maintenance.sqlite', target: 'app-db', severity: 'critical', observed: 'VACUUM: database or disk is full' })]);
    expect(findings[0]!.message).toContain('A checked backup was taken first (backups/web/i-0123456789abcdef0/2026-11-22T02:00:00Z/)');
  });

  it('fails when a database operation fails after changing it: says whether the database was put back', () => {
    // Prepare
    const back = maintenance({ sqlite: [appDb({ ok: false, error: 'integrity_check after VACUUM: not ok', rolledBack: true })] });
    const notBack = maintenance({ sqlite: [appDb({ ok: false, error: 'integrity_check after VACUUM: not ok', rolledBack: false })] });
    // Act
    const [restored] = failing(evaluateMaintenance(back, fleet, stack));
    const [broken] = failing(evaluateMaintenance(notBack, fleet, stack));
    // Assess
    expect(restored).toMatchObject({ check: 'maintenance.sqlite', severity: 'critical', message: expect.stringContaining('The database was put back as it was before.') });
    expect(broken).toMatchObject({ check: 'maintenance.sqlite', severity: 'critical', message: expect.stringContaining('Putting the database back FAILED: restore it from the backup.') });
  });

  it('fails when pruning fails: a warning only', () => {
    // Prepare
    const result = maintenance({ sqlite: [], prune: [{ what: 'images', ok: false, reclaimed: null }] });
    // Act
    const findings = evaluateMaintenance(result, fleet, stack);
    // Assess
    expect(findings).toEqual([expect.objectContaining({ check: 'maintenance.prune', target: 'images', severity: 'warning', message: 'pruning images failed' })]);
  });

  it('fails when the backup before maintenance fails: critical maintenance.run, nothing touched', () => {
    // Prepare
    const result = maintenance({ backupPrefix: null, sqlite: [], prune: [], errors: ['the backup before maintenance failed: upload refused; no database was touched'] });
    // Act
    const findings = evaluateMaintenance(result, fleet, stack);
    // Assess
    expect(findings).toEqual([expect.objectContaining({ check: 'maintenance.run', target: 'i-0123456789abcdef0', severity: 'critical' })]);
  });

  it('leaves docker noise out of the findings: errors starting with "docker " are not run failures', () => {
    // Prepare
    const result = maintenance({ errors: ['docker image prune: warning about dangling layers'] });
    // Act
    const findings = failing(evaluateMaintenance(result, fleet, stack));
    // Assess
    expect(findings).toEqual([]);
  });

  it('fails when the host printed a malformed maintenance result: one critical run.output', () => {
    // Prepare
    const bad = { ...maintenance(), schema: 'shipshape.maintenance/2' };
    // Act
    const evaluation = evaluateStdout(MAINTENANCE, JSON.stringify(bad), fleet);
    // Assess
    expect(evaluation.complete).toBe(false);
    expect(evaluation.findings).toEqual([expect.objectContaining({ check: 'run.output', severity: 'critical' })]);
    expect(evaluation.findings[0]!.observed).toMatch(/maintenance result schema at schema/);
  });
});
