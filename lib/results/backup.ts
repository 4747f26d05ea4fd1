/** The JSON document backup.sh prints, and the manifest it writes last to S3. */
import * as z from 'zod';
import { CHECKSUM_PATTERN } from './checksum.js';
import { RunHeader } from './run.js';

export const BACKUP_RESULT_SCHEMA = 'shipshape.backup/1';
export const BACKUP_MANIFEST_SCHEMA = 'shipshape.backup-manifest/1';

export const Archive = z.object({
  name: z.string(),
  kind: z.enum(['sqlite', 'postgres', 'volume', 'path']),
  source: z.string(),
  method: z.string(),
  key: z.string(),
  ok: z.boolean(),
  bytes: z.number().nullable(),
  /**
   * The SHA-256 of the object, or for a multipart upload S3's composite SHA-256 with the part
   * layout (`<hex>-<bytes>x<count>[+...]`, see checksum.ts). Older manifests hold the former only.
   */
  sha256: z.string().regex(CHECKSUM_PATTERN).nullable(),
  compression: z.enum(['zstd', 'gzip', 'none']),
  integrity: z.string().nullable(),
  durationMs: z.number(),
  error: z.string().nullable(),
  /**
   * 0: a full (every SQLite and PostgreSQL archive); 1: a differential of a volume or path,
   * GNU tar --listed-incremental against the newest full of the same source. Absent in
   * manifests written before differentials existed (those are fulls).
   */
  level: z.union([z.literal(0), z.literal(1)]).optional(),
  /** Level 1: the S3 key of the full it applies on top of (restore extracts that first). */
  baseKey: z.string().nullable().optional(),
  /** Level 1: the checksum of that full, from its own run's manifest (the same form as sha256). */
  baseSha256: z.string().regex(CHECKSUM_PATTERN).nullable().optional(),
});
export type Archive = z.infer<typeof Archive>;

export const Restart = z.object({
  container: z.string(),
  started: z.boolean(),
  state: z.string().nullable(),
  health: z.string().nullable(),
  waitedMs: z.number().nullable(),
  /** The container ignored SIGTERM and was killed after stopTimeoutSeconds. */
  killed: z.boolean().optional(),
});

export const BackupResult = RunHeader.extend({
  schema: z.literal(BACKUP_RESULT_SCHEMA),
  bucket: z.string(),
  prefix: z.string(),
  manifestKey: z.string().nullable(),
  complete: z.boolean(),
  archives: z.array(Archive),
  restarts: z.array(Restart),
  /** Containers on the stop list that were already stopped: left stopped, never started. */
  leftStopped: z.array(z.string()).optional(),
  missingTools: z.array(z.string()),
  errors: z.array(z.string()),
});
export type BackupResult = z.infer<typeof BackupResult>;

export const BackupManifest = z.object({
  schema: z.literal(BACKUP_MANIFEST_SCHEMA),
  stack: z.string(),
  host: z.string(),
  runId: z.string(),
  startedAt: z.string(),
  finishedAt: z.string(),
  archives: z.array(Archive),
  tools: z.record(z.string(), z.string()),
});
export type BackupManifest = z.infer<typeof BackupManifest>;
