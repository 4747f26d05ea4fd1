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
  changed: z.boolean(),
  restarts: z.array(z.object({ container: z.string(), ok: z.boolean(), state: z.string(), health: z.string() })),
  errors: z.array(z.string()),
});
export type ApplySecretResult = z.infer<typeof ApplySecretResult>;

export function evaluateApplySecret(r: ApplySecretResult, _fleet: Fleet, _stack: Stack): Finding[] {
  if (r.errors.length === 0) {
    return [{ check: 'secret.apply', target: r.secret, severity: 'ok', observed: r.changed ? 'applied' : 'already in place', threshold: null, message: `${r.stage} of ${r.secret} is in place on ${r.host}` }];
  }
  return [{ check: 'secret.apply', target: r.secret, severity: 'critical', observed: r.errors[0] ?? null, threshold: 'applied',
    message: `applying ${r.stage} of ${r.secret} on ${r.host} failed: ${r.errors.join('; ')}` }];
}
