/**
 * The JSON document secret-grace.sh prints, and the runbook's name (shared by the rotation
 * function, which sends it, and the result function, which evaluates it).
 */
import * as z from 'zod';
import { SECRET_GRACE } from '../runbooks/names.js';
import { RunHeader } from './run.js';

/** 12 characters: the longest stack (40), this name and a 36-character runId fit SendCommand's 100-character Comment. */
export const SECRET_GRACE_END = SECRET_GRACE;

export const SecretGraceResult = RunHeader.extend({
  schema: z.literal('shipshape.secret-grace/1'),
  secret: z.string().nullable(),
  /** When the grace period ended (the sweep's parameter), e.g. 2026-11-29T10:00Z. */
  graceEnded: z.string().nullable(),
  /** What held the previous value: "<variable> in <env file>" or the previous file; null when nothing is kept. */
  previous: z.string().nullable(),
  changed: z.boolean(),
  restarts: z.array(z.object({ service: z.string(), container: z.string(), action: z.enum(['recreate', 'restart']), ok: z.boolean() })),
  /** No receiving container holds the previous value any more. */
  verified: z.boolean(),
  containers: z.array(z.object({ container: z.string(), service: z.string(), holdsPrevious: z.boolean(), state: z.string().nullable(), health: z.string().nullable() })),
  errors: z.array(z.string()),
});
export type SecretGraceResult = z.infer<typeof SecretGraceResult>;
