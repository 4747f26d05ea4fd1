/** secret-grace evaluator: after its grace period, no container may hold a secret's previous value. */
import type { Fleet, Stack } from '../../lib/config/schema.js';
import type { Finding } from '../../lib/results/findings.js';
import type { SecretGraceResult } from '../../lib/results/secret-grace.js';

export function evaluateSecretGrace(r: SecretGraceResult, _fleet: Fleet, _stack: Stack): Finding[] {
  const ended = r.graceEnded ? ` (grace period ended ${r.graceEnded})` : '';
  const still = r.containers.filter((c) => c.holdsPrevious);
  if (still.length) {
    return still.map((c) => ({ check: 'secret.grace', target: `${r.secret} (${c.container})`, severity: 'critical' as const, observed: 'previous value still held', threshold: 'removed',
      message: `${c.container} on ${r.host} still holds the previous value of ${r.secret}${ended}: ${r.previous ?? 'previous value'}` }));
  }
  if (r.errors.length || !r.verified) {
    return [{ check: 'secret.grace', target: r.secret ?? 'secret', severity: 'critical', observed: r.errors[0] ?? 'not verified', threshold: 'removed and verified',
      message: `removing the previous value of ${r.secret} on ${r.host} failed${ended}: ${r.errors.join('; ') || 'the containers were not verified'}` }];
  }
  return [{ check: 'secret.grace', target: r.secret ?? 'secret', severity: 'ok', observed: r.previous ? (r.changed ? 'removed' : 'already gone') : 'nothing kept', threshold: null,
    message: r.previous ? `the previous value of ${r.secret} (${r.previous}) is gone from ${r.host}${ended}; ${r.containers.length} container(s) verified` : `${r.secret} keeps no previous value on ${r.host}` }];
}
