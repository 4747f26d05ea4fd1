import * as z from 'zod';

/** Fields every host result starts with. */
export const RunHeader = z.object({
  stack: z.string(),
  runId: z.string(),
  hostname: z.string(),
  host: z.string(),
  startedAt: z.string(),
  durationMs: z.number().nullable(),
});
