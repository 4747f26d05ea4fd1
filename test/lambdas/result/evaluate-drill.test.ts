/** Findings of the drill evaluator: every archive restorable, an archive that is not, a run that failed, malformed output. */
import { describe, expect, it } from 'vitest';
import { evaluateDrill } from '../../../lambdas/result/evaluate-drill.js';
import type { DrillResult } from '../../../lib/results/drill.js';
import { failing } from '../../../lib/results/findings.js';
import { DRILL } from '../../../lib/runbooks/names.js';
import { evaluateStdout, header } from '../../support/evaluate.js';
import { demoFleet } from '../../support/fleets.js';

const fleet = demoFleet();
const stack = fleet.stacks[0]!;
type Archive = DrillResult['archives'][number];

const sqlite = (change: Partial<Archive> = {}): Archive => ({ name: 'app-db', kind: 'sqlite', key: 'backups/web/i-1/t/app-db.db.zst', ok: true, integrity: 'ok', entries: null, durationMs: 40, error: null, ...change });
const volume = (change: Partial<Archive> = {}): Archive => ({ name: 'data', kind: 'volume', key: 'backups/web/i-1/t/data.tar.zst', ok: true, integrity: null, entries: 12, durationMs: 30, error: null, ...change });

function drill(change: Partial<DrillResult> = {}): DrillResult {
  return { ...header, schema: 'shipshape.drill/1', from: '2026-11-21T02:00:00Z', archives: [sqlite(), volume()], errors: [], ...change };
}

describe('drill evaluator', () => {
  it('reports every restorable archive as ok, with its integrity or entry count', () => {
    // Act
    const findings = evaluateDrill(drill(), fleet, stack);
    // Assess
    expect(findings.map((f) => [f.check, f.target, f.severity, f.observed])).toEqual([
      ['drill.archive', 'app-db', 'ok', 'ok'],
      ['drill.archive', 'data', 'ok', '12 entries'],
    ]);
  });

  it('fails when an archive cannot be restored: critical for that archive, the error not repeated as drill.run', () => {
    // Prepare
    const result = drill({ archives: [sqlite({ ok: false, integrity: null, error: 'integrity_check: row 3 missing from index' }), volume()], errors: ['app-db: integrity_check: row 3 missing from index'] });
    // Act
    const findings = failing(evaluateDrill(result, fleet, stack));
    // Assess
    expect(findings).toEqual([expect.objectContaining({ check: 'drill.archive', target: 'app-db', severity: 'critical', observed: 'integrity_check: row 3 missing from index', threshold: 'restorable' })]);
    expect(findings[0]!.message).toContain('could NOT be restored in the drill');
  });

  it('fails when the drill itself failed before any archive: drill.run per error', () => {
    // Prepare
    const result = drill({ from: null, archives: [], errors: ['no verified backup of web on i-0123456789abcdef0', 'scratch space: 10 MiB free'] });
    // Act
    const findings = evaluateDrill(result, fleet, stack);
    // Assess
    expect(findings.map((f) => [f.check, f.target, f.severity, f.observed])).toEqual([
      ['drill.run', 'i-0123456789abcdef0', 'critical', 'no verified backup of web on i-0123456789abcdef0'],
      ['drill.run', 'i-0123456789abcdef0', 'critical', 'scratch space: 10 MiB free'],
    ]);
  });

  it('fails when the host printed a malformed drill result: one critical run.output', () => {
    // Prepare
    const bad = drill({ archives: [{ ...sqlite(), durationMs: 'fast' as unknown as number }] });
    // Act
    const evaluation = evaluateStdout(DRILL, JSON.stringify(bad), fleet);
    // Assess
    expect(evaluation.complete).toBe(false);
    expect(evaluation.findings).toEqual([expect.objectContaining({ check: 'run.output', severity: 'critical' })]);
    expect(evaluation.findings[0]!.observed).toMatch(/drill result schema at archives\.0\.durationMs/);
  });
});
