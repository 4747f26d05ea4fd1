/**
 * The result function never takes a run that the host could not finish for a restorable one
 * (issue 11): killed and left-stopped containers, a "complete" run without sizes or
 * checksums, unhealthy services after a restore, and maintenance rollbacks.
 */
import { describe, expect, it } from 'vitest';
import { parseFleet } from '../../../lib/config/load.js';
import { BackupResult } from '../../../lib/results/backup.js';
import { MaintenanceResult } from '../../../lib/results/maintenance.js';
import { RestoreResult } from '../../../lib/results/restore.js';
import { evaluateBackup, verifyBackup } from '../../../lambdas/result/evaluate-backup.js';
import { evaluateMaintenance } from '../../../lambdas/result/evaluate-maintenance.js';
import { evaluateRestore } from '../../../lambdas/result/evaluate-restore.js';

const fleet = parseFleet({ fleet: 'demo', stacks: [{ name: 'web', hosts: { tag: { key: 'R', value: 'w' } }, services: [{ name: 'app', container: 'app' }],
  backup: { volumes: [{ name: 'data' }], stop: ['app', 'cron'], stopTimeoutSeconds: 20 }, maintenance: { sqlite: [{ name: 'db', container: 'app', path: '/data/db' }] } }] });
const stack = fleet.stacks[0]!;
const header = { stack: 'web', runId: 'r', hostname: 'h', host: 'i-0123456789abcdef0', startedAt: '2026-11-22T00:00:00Z', durationMs: 1 };
const archive = { name: 'data', kind: 'volume', source: 'volume data', method: 'tar', key: 'b/web/i/1/data.tar.zst', ok: true, bytes: 10, sha256: 'a'.repeat(64), compression: 'zstd', integrity: null, durationMs: 1, error: null };
const backup = (extra: Record<string, unknown>) => BackupResult.parse({ schema: 'shipshape.backup/1', ...header, bucket: 'b', prefix: 'b/web/i/1', manifestKey: 'b/web/i/1/manifest.json', complete: true,
  archives: [archive], restarts: [], missingTools: [], errors: [], ...extra });

describe('backup evaluation under faults', () => {
  it('warns about a container that was killed after stopTimeoutSeconds, and notes one left stopped', () => {
    // Prepare
    const r = backup({ restarts: [{ container: 'app', started: true, state: 'running', health: 'healthy', waitedMs: 5, killed: true }], leftStopped: ['cron'] });
    // Act
    const findings = evaluateBackup(r, fleet, stack);
    // Assess
    expect(findings.find((f) => f.check === 'backup.stop' && f.target === 'app')).toMatchObject({ severity: 'warning', message: expect.stringMatching(/stopTimeoutSeconds \(20 s\) and was killed/) });
    expect(findings.find((f) => f.check === 'backup.stop' && f.target === 'cron')).toMatchObject({ severity: 'ok', message: expect.stringMatching(/left stopped/) });
  });

  it('fails when a run reported complete holds an archive without size or checksum', () => {
    // Prepare
    const r = backup({ archives: [{ ...archive, bytes: null, sha256: null }] });
    // Act
    const findings = evaluateBackup(r, fleet, stack);
    // Assess
    expect(findings.filter((f) => f.severity === 'critical').map((f) => f.message)).toEqual([expect.stringMatching(/data is in a run reported complete without a size or SHA-256/)]);
  });

  it('fails verification of a manifest archive without size, naming that instead of "null on the host"', async () => {
    // Prepare: S3 holds the manifest and the archive
    const manifest = { schema: 'shipshape.backup-manifest/1', stack: 'web', host: header.host, runId: 'r', startedAt: 'x', finishedAt: 'x', archives: [{ ...archive, bytes: null }], tools: {} };
    const s3 = { send: async (cmd: { constructor: { name: string } }) => (cmd.constructor.name === 'GetObjectCommand'
      ? { Body: { transformToString: async () => JSON.stringify(manifest) } } : { ContentLength: 10 }) };
    const store = { backupSizes: async () => ({}), recordBackupSizes: async () => true } as never;
    // Act
    const findings = await verifyBackup(s3 as never, store, backup({}), stack, { checksumMaxBytes: 1000, now: 0 });
    // Assess
    expect(findings).toEqual([expect.objectContaining({ severity: 'critical', message: expect.stringMatching(/has no size in the manifest/) })]);
    expect(findings[0]!.message).not.toMatch(/null on the host/);
  });
});

describe('restore and maintenance evaluation under faults', () => {
  it('fails when a container runs but is unhealthy after the restore', () => {
    // Prepare
    const r = RestoreResult.parse({ schema: 'shipshape.restore/1', ...header, from: 'b/web/i/1', safetyPrefix: 'b/web/i/2', ok: false, rolledBack: true, sources: [],
      restarts: [{ container: 'app', started: true, state: 'running', health: 'unhealthy' }], errors: ['container app runs but is unhealthy after 120s'] });
    // Act
    const findings = evaluateRestore(r, fleet, stack);
    // Assess
    expect(findings.map((f) => [f.check, f.severity])).toEqual([['restore.result', 'critical'], ['restore.restart', 'critical']]);
    expect(findings[1]!.message).toMatch(/app runs but is unhealthy after the restore/);
  });

  it('warns about a container the restore had to kill', () => {
    // Prepare
    const r = RestoreResult.parse({ schema: 'shipshape.restore/1', ...header, from: 'b/web/i/1', safetyPrefix: 'b/web/i/2', ok: true, rolledBack: null, sources: [],
      restarts: [{ container: 'app', started: true, state: 'running', health: 'healthy', killed: true }], errors: [] });
    // Act
    const findings = evaluateRestore(r, fleet, stack);
    // Assess
    expect(findings.map((f) => [f.check, f.severity])).toEqual([['restore.result', 'ok'], ['restore.stop', 'warning']]);
  });

  it('says the database was put back when maintenance rolled back', () => {
    // Prepare
    const r = MaintenanceResult.parse({ schema: 'shipshape.maintenance/1', ...header, backupPrefix: 'b/web/i/3', prune: [], errors: ['db: app is not back and healthy'],
      sqlite: [{ name: 'db', container: 'app', operations: 'vacuum', ok: false, stopped: true, integrity: 'ok', health: 'running|unhealthy', rolledBack: true, error: 'app is not back and healthy' }] });
    // Act
    const findings = evaluateMaintenance(r, fleet, stack);
    // Assess
    expect(findings[0]).toMatchObject({ severity: 'critical', message: expect.stringMatching(/put back as it was before/) });
  });
});
