/** apply-secret evaluator: the secret must be on the host and its services healthy again. */
import * as z from 'zod';
import type { Fleet, Stack } from '../../lib/config/schema.js';
import type { Finding } from '../../lib/results/findings.js';
import { RunHeader } from '../../lib/results/run.js';

export const ApplySecretResult = RunHeader.extend({
  schema: z.literal('shipshape.apply-secret/1'),
  secret: z.string(),
  stage: z.string(),
  file: z.string().nullable(),
  /** How the receiving containers take the value: recreate (env file), restart or none (file). */
  delivery: z.enum(['recreate', 'restart', 'none']).nullable().optional(),
  changed: z.boolean(),
  restarts: z.array(z.object({ service: z.string().optional(), container: z.string(), action: z.enum(['recreate', 'restart']).optional(), ok: z.boolean(), state: z.string().nullable(), health: z.string().nullable() })),
  /** Every receiving container holds the applied version (hash comparison on the host). */
  verified: z.boolean().optional(),
  containers: z.array(z.object({ container: z.string(), service: z.string(), delivery: z.enum(['recreate', 'restart', 'none', 'unmounted']).optional(), matches: z.boolean(), state: z.string().nullable(), health: z.string().nullable(), problem: z.string().nullable() })).optional(),
  errors: z.array(z.string()),
});
export type ApplySecretResult = z.infer<typeof ApplySecretResult>;

export function evaluateApplySecret(r: ApplySecretResult, _fleet: Fleet, _stack: Stack): Finding[] {
  // A container that still holds another value: the rotation is not done, whatever else passed.
  const stale = (r.containers ?? []).filter((c) => !c.matches);
  if (stale.length > 0) {
    return stale.map((c) => ({ check: 'secret.delivery', target: `${r.secret} (${c.container})`, severity: 'critical' as const, observed: 'old or other value', threshold: `${r.stage} value`,
      message: `${c.container} on ${r.host} does not hold the ${r.stage} value of ${r.secret} after ${r.delivery ?? 'applying'}${c.problem ? `: ${c.problem}` : ''}` }));
  }
  if (r.errors.length === 0) {
    return [{ check: 'secret.apply', target: r.secret, severity: 'ok', observed: r.changed ? 'applied' : 'already in place', threshold: null, message: `${r.stage} of ${r.secret} is in place on ${r.host}` }];
  }
  return [{ check: 'secret.apply', target: r.secret, severity: 'critical', observed: r.errors[0] ?? null, threshold: 'applied',
    message: `applying ${r.stage} of ${r.secret} on ${r.host} failed: ${r.errors.join('; ')}` }];
}
