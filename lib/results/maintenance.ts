/** The JSON document maintenance.sh prints. */
import * as z from 'zod';
import { RunHeader } from './run.js';

export const MaintenanceResult = RunHeader.extend({
  schema: z.literal('shipshape.maintenance/1'),
  backupPrefix: z.string().nullable(),
  sqlite: z.array(z.object({
    name: z.string(), container: z.string(), operations: z.string(), ok: z.boolean(), stopped: z.boolean(),
    integrity: z.string().nullable(), health: z.string().nullable(), error: z.string().nullable(),
    /** The database was put back as it was before the operations (true), or that failed (false); null when not needed. */
    rolledBack: z.boolean().nullable().default(null),
  })),
  prune: z.array(z.object({ what: z.string(), ok: z.boolean(), reclaimed: z.string().nullable() })),
  errors: z.array(z.string()),
});
export type MaintenanceResult = z.infer<typeof MaintenanceResult>;
