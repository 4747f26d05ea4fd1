/** The JSON document restore.sh prints. */
import * as z from 'zod';
import { RunHeader } from './run.js';

export const RESTORE_RESULT_SCHEMA = 'shipshape.restore/1';

export const RestoreResult = RunHeader.extend({
  schema: z.literal(RESTORE_RESULT_SCHEMA),
  from: z.string().nullable(),
  /** The safety backup uploaded to S3 before the restore (only with UploadPreRestoreBackup=true). */
  safetyPrefix: z.string().nullable(),
  ok: z.boolean(),
  rolledBack: z.boolean().nullable(),
  sources: z.array(z.object({
    name: z.string(), kind: z.string(), key: z.string(), sha256: z.string(), ok: z.boolean(),
    /** 1: a differential restored over its base (baseKey); 0: a full. */
    level: z.number().int().min(0).max(1).optional(),
    baseKey: z.string().nullable().optional(),
    /**
     * How the data from before the restore was kept on the host: rename (the directory or file renamed
     * aside on the same filesystem), copy (cp -a --reflink=auto aside, restored in place: a mount point),
     * dump (pg_dump -Fc aside), none (nothing was there).
     */
    safetyNet: z.enum(['rename', 'copy', 'dump', 'none']).nullable().optional(),
    /** Where that copy still is when the run ended (a failed rollback, a crash); null once removed or put back. */
    aside: z.string().nullable().optional(),
    /**
     * After a successful restore: the copy set aside, renamed <live>.shipshape-drop-<runId> and being removed
     * by a process of its own that outlives the run (a later restore removes what a reboot left of it).
     */
    dropping: z.string().nullable().optional(),
    /**
     * How the restored data was prepared: beside (downloaded once, hashed and extracted in the same pass
     * into a fresh sibling of the live data while the containers ran, then renamed into place), staged
     * (a verified staging file, restored in place after the data was copied or dumped aside: a mount point,
     * a directory a running container bind-mounts, a sibling that cannot be created, PostgreSQL).
     */
    prepared: z.enum(['beside', 'staged']).nullable().optional(),
  })),
  /** killed: the container ignored SIGTERM and was killed after stopTimeoutSeconds. */
  restarts: z.array(z.object({ container: z.string(), started: z.boolean(), state: z.string(), health: z.string(), killed: z.boolean().optional() })),
  errors: z.array(z.string()),
});
export type RestoreResult = z.infer<typeof RestoreResult>;
