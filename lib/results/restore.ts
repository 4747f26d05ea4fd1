/** The JSON document restore.sh prints. */
import * as z from 'zod';
import { RunHeader } from './run.js';

export const RESTORE_RESULT_SCHEMA = 'shipshape.restore/1';

export const RestoreResult = RunHeader.extend({
  schema: z.literal(RESTORE_RESULT_SCHEMA),
  from: z.string().nullable(),
  safetyPrefix: z.string().nullable(),
  ok: z.boolean(),
  rolledBack: z.boolean().nullable(),
  sources: z.array(z.object({ name: z.string(), kind: z.string(), key: z.string(), sha256: z.string(), ok: z.boolean() })),
  /** killed: the container ignored SIGTERM and was killed after stopTimeoutSeconds. */
  restarts: z.array(z.object({ container: z.string(), started: z.boolean(), state: z.string(), health: z.string(), killed: z.boolean().optional() })),
  errors: z.array(z.string()),
});
export type RestoreResult = z.infer<typeof RestoreResult>;
