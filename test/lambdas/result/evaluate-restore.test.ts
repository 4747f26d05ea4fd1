/** Findings of the restore evaluator: success, rolled back, rollback failed, refused, containers left down, malformed output. */
import { describe, expect, it } from 'vitest';
import { evaluateRestore } from '../../../lambdas/result/evaluate-restore.js';
import { failing } from '../../../lib/results/findings.js';
import type { RestoreResult } from '../../../lib/results/restore.js';
import { RESTORE } from '../../../lib/runbooks/names.js';
import { evaluateStdout, header } from '../../support/evaluate.js';
import { demoFleet } from '../../support/fleets.js';

const fleet = demoFleet();
const stack = fleet.stacks[0]!;

function restored(change: Partial<RestoreResult> = {}): RestoreResult {
  return {
    ...header, schema: 'shipshape.restore/1', from: '2026-11-21T02:00:00Z', safetyPrefix: 'backups/web/i-0123456789abcdef0/safety-1/', ok: true, rolledBack: null,
    sources: [
      { name: 'app-db', kind: 'sqlite', key: 'backups/web/i-0123456789abcdef0/2026-11-21T02:00:00Z/app-db.db.zst', sha256: 'a'.repeat(64), ok: true },
      { name: 'uploads', kind: 'path', key: 'backups/web/i-0123456789abcdef0/2026-11-21T02:00:00Z/uploads.tar.zst', sha256: 'b'.repeat(64), ok: true },
    ],
    restarts: [{ container: 'web-api-1', started: true, state: 'running', health: 'healthy' }],
    errors: [],
    ...change,
  };
}

describe('restore evaluator', () => {
  it('reports a successful restore as ok, naming the sources and the backup it came from', () => {
    // Prepare
    const result = restored();
    // Act
    const findings = evaluateRestore(result, fleet, stack);
    // Assess
    expect(findings).toEqual([expect.objectContaining({ check: 'restore.result', target: 'i-0123456789abcdef0', severity: 'ok', observed: 'app-db,uploads' })]);
    expect(findings[0]!.message).toContain('from 2026-11-21T02:00:00Z succeeded');
  });

  it('says where the data from before a successful restore is being removed in the background, without a warning', () => {
    // Prepare
    const result = restored();
    result.sources[1]!.dropping = '/srv/uploads.shipshape-drop-r1';
    // Act
    const findings = evaluateRestore(result, fleet, stack);
    // Assess
    expect(findings).toEqual([expect.objectContaining({ check: 'restore.result', severity: 'ok' })]);
    expect(findings[0]!.message).toContain('succeeded; the data from before it is being removed in the background (uploads: /srv/uploads.shipshape-drop-r1)');
  });

  it('fails when the restore was rolled back: critical, naming the safety backup and the errors', () => {
    // Prepare
    const result = restored({ ok: false, rolledBack: true, errors: ['uploads: sha256 mismatch', 'second', 'third', 'fourth'] });
    // Act
    const findings = evaluateRestore(result, fleet, stack);
    // Assess
    expect(findings).toEqual([expect.objectContaining({ check: 'restore.result', severity: 'critical', observed: 'rolled back', threshold: 'restored' })]);
    expect(findings[0]!.message).toContain('the data from before the restore was put back; the host is as it was before. A safety backup of the state before the restore is in backups/web/i-0123456789abcdef0/safety-1/.');
    expect(findings[0]!.message).toContain('uploads: sha256 mismatch; second; third');
    expect(findings[0]!.message).not.toContain('fourth');
  });

  it('fails when the rollback failed too: restore.rollback, with where to restore by hand', () => {
    // Prepare
    const result = restored({ ok: false, rolledBack: false, errors: ['app-db: disk full', 'rollback: tar failed'] });
    // Act
    const findings = evaluateRestore(result, fleet, stack);
    // Assess
    expect(findings).toEqual([expect.objectContaining({ check: 'restore.rollback', severity: 'critical', observed: 'rollback failed' })]);
    expect(findings[0]!.message).toMatch(/data may be partly restored\. Restore by hand: from backups\/web\/i-0123456789abcdef0\/safety-1\//);
  });

  it('fails when the rollback failed with the old data still set aside on the host: the message names where it is', () => {
    // Prepare
    const [db, uploads] = restored().sources;
    const result = restored({ ok: false, rolledBack: false, safetyPrefix: null, errors: ['uploads: putting the data from before the restore back failed'],
      sources: [{ ...db!, safetyNet: 'rename', aside: null }, { ...uploads!, ok: false, safetyNet: 'rename', aside: '/srv/uploads.shipshape-before-run-1' }] });
    // Act
    const findings = evaluateRestore(result, fleet, stack);
    // Assess
    expect(findings).toEqual([expect.objectContaining({ check: 'restore.rollback', severity: 'critical' })]);
    expect(findings[0]!.message).toContain('Restore by hand: the data from before the restore is still on the host at uploads: /srv/uploads.shipshape-before-run-1.');
  });

  it('fails when a successful restore could not remove the copy set aside: a restore.aside warning naming it', () => {
    // Prepare
    const [db, uploads] = restored().sources;
    const result = restored({ sources: [{ ...db!, safetyNet: 'rename', aside: null }, { ...uploads!, safetyNet: 'copy', aside: '/srv/uploads.shipshape-before-run-1' }] });
    // Act
    const findings = failing(evaluateRestore(result, fleet, stack));
    // Assess
    expect(findings).toEqual([expect.objectContaining({ check: 'restore.aside', severity: 'warning', observed: 'uploads: /srv/uploads.shipshape-before-run-1' })]);
  });

  it('fails when the restore did not start: nothing changed, and says why', () => {
    // Prepare
    const result = restored({ ok: false, rolledBack: null, safetyPrefix: null, from: null, sources: [], restarts: [], errors: ['no verified backup of web on i-0123456789abcdef0'] });
    // Act
    const findings = evaluateRestore(result, fleet, stack);
    // Assess
    expect(findings).toEqual([expect.objectContaining({ check: 'restore.result', severity: 'critical', observed: 'not started' })]);
    expect(findings[0]!.message).toBe('restore of web on i-0123456789abcdef0 did not start, nothing was changed: no verified backup of web on i-0123456789abcdef0');
  });

  it('fails when a container stays down after the restore: one restore.restart per container, even when the data came back', () => {
    // Prepare
    const result = restored({ restarts: [
      { container: 'web-api-1', started: true, state: 'running', health: 'healthy' },
      { container: 'web-db-1', started: false, state: 'exited', health: 'none' },
      { container: 'web-worker-1', started: true, state: 'restarting', health: 'starting' },
    ] });
    // Act
    const findings = failing(evaluateRestore(result, fleet, stack));
    // Assess
    expect(findings.map((f) => [f.check, f.target, f.observed])).toEqual([
      ['restore.restart', 'web-db-1', 'exited/none'],
      ['restore.restart', 'web-worker-1', 'restarting/starting'],
    ]);
  });

  it('fails when a container had to be killed to stop for the restore: a restore.stop warning beside the result', () => {
    // Prepare
    const result = restored({ restarts: [{ container: 'web-db-1', started: true, state: 'running', health: 'healthy', killed: true }] });
    // Act
    const findings = failing(evaluateRestore(result, fleet, stack));
    // Assess
    expect(findings).toEqual([expect.objectContaining({ check: 'restore.stop', target: 'web-db-1', severity: 'warning', observed: 'killed' })]);
    expect(findings[0]!.message).toContain('stopTimeoutSeconds');
  });

  it('fails when the host printed a malformed restore result: one critical run.output naming the field', () => {
    // Prepare
    const bad = { ...restored(), rolledBack: 'maybe' };
    // Act
    const evaluation = evaluateStdout(RESTORE, JSON.stringify(bad), fleet);
    // Assess
    expect(evaluation.complete).toBe(false);
    expect(evaluation.findings).toEqual([expect.objectContaining({ check: 'run.output', severity: 'critical' })]);
    expect(evaluation.findings[0]!.observed).toMatch(/restore result schema at rolledBack/);
  });

  it('fails when the host printed no JSON at all', () => {
    // Act
    const evaluation = evaluateStdout(RESTORE, 'restore.sh: line 3: syntax error', fleet);
    // Assess
    expect(evaluation.findings).toEqual([expect.objectContaining({ check: 'run.output', severity: 'critical' })]);
  });
});
