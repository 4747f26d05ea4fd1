/** Restart evaluator: every restarted service must be running and healthy again. */
import type { Fleet, Stack } from '../../lib/config/schema.js';
import type { Finding } from '../../lib/results/findings.js';
import type { RestartResult } from '../../lib/results/restart.js';

export function evaluateRestart(r: RestartResult, _fleet: Fleet, _stack: Stack): Finding[] {
  const out: Finding[] = r.services.map((s) => (s.ok
    ? { check: 'restart.service', target: s.service, severity: 'ok' as const, observed: `${s.state}/${s.health}`, threshold: 'running', message: `${s.service} restarted and is ${s.health === 'none' ? 'running' : s.health}` }
    : { check: 'restart.service', target: s.service, severity: 'critical' as const, observed: `${s.state}/${s.health}`, threshold: 'running and healthy', message: `${s.service} (${s.container}) did not come back after a restart: ${s.error}` }));
  const explained = new Set(r.services.filter((s) => !s.ok).map((s) => `${s.service}: ${s.error}`));
  for (const e of r.errors.filter((x) => !explained.has(x))) {
    out.push({ check: 'restart.run', target: r.host, severity: r.busy ? 'warning' : 'critical', observed: e, threshold: null, message: `restart on ${r.host}: ${e}` });
  }
  return out;
}
