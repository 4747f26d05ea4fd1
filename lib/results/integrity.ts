/** The JSON document integrity.sh prints. */
import * as z from 'zod';
import { RunHeader } from './run.js';

export const IntegrityCheck = z.object({
  kind: z.enum(['sqlite', 'cert', 'connect', 'file', 'logsize']),
  name: z.string(),
  ok: z.boolean(),
  /** Days left for certificates, milliseconds for connections, MiB for log files. */
  value: z.number().nullable(),
  detail: z.string().nullable(),
  expiresAt: z.string().nullable(),
  /** Certificate CN and DNS SANs, comma separated. */
  names: z.string().nullable(),
});

export const IntegrityResult = RunHeader.extend({
  schema: z.literal('shipshape.integrity/1'),
  checks: z.array(IntegrityCheck),
  errors: z.array(z.string()),
});
export type IntegrityResult = z.infer<typeof IntegrityResult>;
