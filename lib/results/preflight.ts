/**
 * The JSON document preflight.sh prints: what the host found for each thing the config names,
 * each tool a configured runbook needs, space, region, secret delivery and bucket access.
 */
import * as z from 'zod';
import { RunHeader } from './run.js';

export const PREFLIGHT_RESULT_SCHEMA = 'shipshape.preflight/1';

export const PREFLIGHT_CHECKS = ['compose.project', 'name.container', 'name.volume', 'path', 'file.database', 'tool', 'space.temp', 'region', 'secret.delivery', 'bucket.access'] as const;

export const PreflightCheck = z.object({
  check: z.enum(PREFLIGHT_CHECKS),
  /** What was looked at: a name from the config, a path, a tool. */
  target: z.string(),
  ok: z.boolean(),
  /** A configured runbook fails without it (otherwise it is an improvement, e.g. checksums for Object Lock). */
  required: z.boolean(),
  detail: z.string().nullable(),
  version: z.string().nullable(),
});
export type PreflightCheck = z.infer<typeof PreflightCheck>;

export const PreflightResult = RunHeader.extend({
  schema: z.literal(PREFLIGHT_RESULT_SCHEMA),
  project: z.string().nullable(),
  /** The runbooks the stack uses, from its spec. */
  runbooks: z.array(z.string()),
  checks: z.array(PreflightCheck),
  errors: z.array(z.string()),
});
export type PreflightResult = z.infer<typeof PreflightResult>;
