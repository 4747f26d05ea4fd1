/** The JSON document drill.sh prints. */
import * as z from 'zod';
import { RunHeader } from './run.js';

export const DrillResult = RunHeader.extend({
  schema: z.literal('shipshape.drill/1'),
  from: z.string().nullable(),
  archives: z.array(z.object({
    name: z.string(), kind: z.string(), key: z.string(), ok: z.boolean(), integrity: z.string().nullable(), entries: z.number().nullable(), durationMs: z.number(), error: z.string().nullable(),
    /** 1: a differential, drilled over its base (baseKey), both verified; 0: a full. */
    level: z.number().int().min(0).max(1).optional(),
    baseKey: z.string().nullable().optional(),
  })),
  errors: z.array(z.string()),
});
export type DrillResult = z.infer<typeof DrillResult>;
