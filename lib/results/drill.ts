/** The JSON document drill.sh prints. */
import * as z from 'zod';

export const DrillResult = z.object({
  schema: z.literal('shipshape.drill/1'),
  stack: z.string(),
  runId: z.string(),
  hostname: z.string(),
  host: z.string(),
  startedAt: z.string(),
  durationMs: z.number().nullable(),
  from: z.string().nullable(),
  archives: z.array(z.object({
    name: z.string(), kind: z.string(), key: z.string(), ok: z.boolean(), integrity: z.string().nullable(), entries: z.number().nullable(), durationMs: z.number(), error: z.string().nullable(),
  })),
  errors: z.array(z.string()),
});
export type DrillResult = z.infer<typeof DrillResult>;
