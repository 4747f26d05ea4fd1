/** The JSON document restart.sh prints. */
import * as z from 'zod';
import { RunHeader } from './run.js';

export const RestartResult = RunHeader.extend({
  schema: z.literal('shipshape.restart/1'),
  busy: z.string().nullable(),
  services: z.array(z.object({ service: z.string(), container: z.string(), ok: z.boolean(), state: z.string(), health: z.string(), waitedMs: z.number(), error: z.string().nullable() })),
  errors: z.array(z.string()),
});
export type RestartResult = z.infer<typeof RestartResult>;
