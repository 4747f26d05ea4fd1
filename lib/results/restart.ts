/** The JSON document restart.sh prints. */
import * as z from 'zod';

export const RestartResult = z.object({
  schema: z.literal('shipshape.restart/1'),
  stack: z.string(),
  runId: z.string(),
  hostname: z.string(),
  host: z.string(),
  startedAt: z.string(),
  durationMs: z.number().nullable(),
  busy: z.string().nullable(),
  services: z.array(z.object({ service: z.string(), container: z.string(), ok: z.boolean(), state: z.string(), health: z.string(), waitedMs: z.number(), error: z.string().nullable() })),
  errors: z.array(z.string()),
});
export type RestartResult = z.infer<typeof RestartResult>;
