/**
 * Preflight evaluator: every check the host made becomes a finding. A missing thing a configured
 * runbook needs is critical (that runbook would fail at its next run); an optional one is a warning.
 */
import type { Fleet, Stack } from '../../lib/config/schema.js';
import type { Finding } from '../../lib/results/findings.js';
import type { PreflightResult } from '../../lib/results/preflight.js';

export function evaluatePreflight(r: PreflightResult, _fleet: Fleet, _stack: Stack): Finding[] {
  const out: Finding[] = r.checks.map((c) => ({
    check: `preflight.${c.check}`,
    target: c.target,
    severity: c.ok ? 'ok' : c.required ? 'critical' : 'warning',
    observed: c.ok ? (c.version ?? 'ok') : (c.detail ?? 'missing'),
    threshold: c.required ? 'required' : 'recommended',
    message: `${c.check} ${c.target}: ${c.detail ?? (c.ok ? 'ok' : 'missing')}${c.version && c.ok ? ` (${c.version})` : ''}`,
  }));
  for (const e of r.errors) out.push({ check: 'preflight.run', target: r.host, severity: 'warning', observed: e, threshold: null, message: `preflight could not do everything: ${e}` });
  return out;
}
