/**
 * Guarded auto-remediation, off unless a service asks for it: an unhealthy container is
 * restarted at most `maxRestarts` times per window, with growing pauses, and never while a
 * backup or restore runs or while its alerts are silenced. Past the cap it stops restarting
 * and says so, as a critical finding that escalates like any other.
 */
import type { Service } from '../../lib/config/schema.js';
import type { Finding } from '../../lib/results/findings.js';

export const REMEDIATED_CHECKS = new Set(['container.state', 'container.health', 'container.exists', 'probe.http', 'probe.tcp', 'probe.process']);

export type Remedy =
  | { readonly action: 'restart'; readonly attempt: number }
  | { readonly action: 'wait' | 'skip'; readonly reason: string }
  | { readonly action: 'exhausted'; readonly attempts: number };

/** Whether the service is down in a way a restart may fix. */
export function needsRestart(service: Service, findings: readonly Finding[]): boolean {
  return findings.some((f) => f.severity === 'critical' && REMEDIATED_CHECKS.has(f.check) && (f.target === service.name || f.target.startsWith(`${service.name} `) || f.target.startsWith(`${service.name}:`)));
}

export function decideRemedy(service: Service, attempts: readonly number[], now: number, guards: { busy: string | null; silenced: boolean }): Remedy {
  const r = service.remediation;
  if (!r?.restart) return { action: 'skip', reason: 'remediation is off' };
  if (guards.busy) return { action: 'skip', reason: `a ${guards.busy} is running` };
  if (guards.silenced) return { action: 'skip', reason: 'silenced' };
  const recent = attempts.filter((t) => now - t < r.windowMinutes * 60_000).sort((a, b) => a - b);
  if (recent.length >= r.maxRestarts) return { action: 'exhausted', attempts: recent.length };
  const last = recent[recent.length - 1];
  const pause = r.backoffMinutes * 60_000 * 2 ** Math.max(0, recent.length - 1);
  if (last !== undefined && now - last < pause) return { action: 'wait', reason: `next restart allowed in ${Math.ceil((pause - (now - last)) / 60_000)} min` };
  return { action: 'restart', attempt: recent.length + 1 };
}
