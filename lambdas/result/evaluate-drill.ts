/** Drill evaluator: every archive of the newest verified backup must restore in scratch. */
import type { Fleet, Stack } from '../../lib/config/schema.js';
import type { DrillResult } from '../../lib/results/drill.js';
import type { Finding } from '../../lib/results/findings.js';

export function evaluateDrill(r: DrillResult, _fleet: Fleet, _stack: Stack): Finding[] {
  const out: Finding[] = r.archives.map((a) => (a.ok
    ? { check: 'drill.archive', target: a.name, severity: 'ok' as const, observed: a.integrity ?? `${a.entries ?? '?'} entries`, threshold: null, message: `${a.name} from ${r.from} restores` }
    : { check: 'drill.archive', target: a.name, severity: 'critical' as const, observed: a.error, threshold: 'restorable',
        message: `${a.name} from ${r.from} could NOT be restored in the drill: ${a.error}. The backup is not usable; take a new one and investigate.` }));
  const explained = new Set(r.archives.filter((a) => !a.ok).map((a) => `${a.name}: ${a.error}`));
  for (const e of r.errors.filter((x) => !explained.has(x))) {
    out.push({ check: 'drill.run', target: r.host, severity: 'critical', observed: e, threshold: null, message: `restore drill of ${r.stack} on ${r.host} failed: ${e}` });
  }
  return out;
}
