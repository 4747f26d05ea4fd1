/** Maintenance evaluator: failed operations and damaged databases are critical. */
import type { Fleet, Stack } from '../../lib/config/schema.js';
import type { Finding } from '../../lib/results/findings.js';
import type { MaintenanceResult } from '../../lib/results/maintenance.js';

export function evaluateMaintenance(r: MaintenanceResult, _fleet: Fleet, _stack: Stack): Finding[] {
  const out: Finding[] = r.sqlite.map((d) => (d.ok
    ? { check: 'maintenance.sqlite', target: d.name, severity: 'ok' as const, observed: d.operations, threshold: null, message: `${d.operations} on ${d.name} done, integrity ok` }
    : { check: 'maintenance.sqlite', target: d.name, severity: 'critical' as const, observed: d.error, threshold: null,
        message: `maintenance of ${d.name} failed: ${d.error}. ${d.rolledBack === true ? 'The database was put back as it was before. ' : d.rolledBack === false ? 'Putting the database back FAILED: restore it from the backup. ' : ''}A checked backup was taken first (${r.backupPrefix ?? 'none'}).` }));
  for (const p of r.prune) {
    out.push({ check: 'maintenance.prune', target: p.what, severity: p.ok ? 'ok' : 'warning', observed: p.reclaimed, threshold: null, message: p.ok ? `pruned ${p.what}, reclaimed ${p.reclaimed ?? '0B'}` : `pruning ${p.what} failed` });
  }
  const explained = new Set(r.sqlite.filter((d) => !d.ok).map((d) => `${d.name}: ${d.error}`));
  for (const e of r.errors.filter((x) => !explained.has(x) && !x.startsWith('docker '))) {
    out.push({ check: 'maintenance.run', target: r.host, severity: 'critical', observed: e, threshold: null, message: `maintenance of ${r.stack} on ${r.host}: ${e}` });
  }
  return out;
}
