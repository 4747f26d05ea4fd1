/** The backup runbook: what each stack's hosts archive, as a spec the script reads. */
import type { Backup, Fleet } from '../config/schema.js';
import { commandDocumentContent, encodeSpec } from './document.js';

export const BACKUP = 'backup';
export const BACKUP_PREFIX = 'backups';

export function backupSpecLines(backup: Backup): (string | number)[][] {
  return [
    ['conf', backup.compression, backup.level, backup.stopTimeoutSeconds],
    ...backup.exclude.map((e) => ['exclude', e]),
    ...backup.hooks.pre.map((h) => ['pre', h.container, ...h.command]),
    ...backup.hooks.post.map((h) => ['post', h.container, ...h.command]),
    ...backup.sqlite.map((s) => ['sqlite', s.name, s.container, s.path]),
    ...backup.postgres.map((s) => ['postgres', s.name, s.container, s.database, s.user]),
    ...backup.stop.map((c) => ['stop', c]),
    ...backup.volumes.map((v) => ['volume', v.name]),
    ...backup.paths.map((p) => ['path', p.name, p.path]),
  ];
}

export function backupSpec(backup: Backup): string {
  return encodeSpec(backupSpecLines(backup));
}

/** The document, for the stacks that have a backup section; undefined when none has. */
export function backupDocumentContent(fleet: Fleet, bucketName: string): Record<string, unknown> | undefined {
  const stacks = fleet.stacks.filter((s) => s.backup);
  if (stacks.length === 0) return undefined;
  return commandDocumentContent({
    description: `shipshape ${fleet.fleet}: backup of a Docker-compose stack to S3. Consistent SQLite snapshots (checked with integrity_check), volumes and paths as one archive each, containers listed under "stop" stopped for the copy and always started again, streamed through zstd with SHA-256 checksums, and a manifest written last.`,
    stepName: 'backup',
    script: 'backup.sh',
    specs: Object.fromEntries(stacks.map((s) => [s.name, backupSpec(s.backup!)])),
    executionTimeoutSeconds: 3 * 3600,
    env: { SHIPSHAPE_BUCKET: bucketName, SHIPSHAPE_PREFIX: BACKUP_PREFIX },
  });
}

export const RESTORE = 'restore';

/** Restore: the backup spec again (sources, stop list), and which run and sources to put back. */
export function restoreDocumentContent(fleet: Fleet, bucketName: string): Record<string, unknown> | undefined {
  const stacks = fleet.stacks.filter((s) => s.backup);
  if (stacks.length === 0) return undefined;
  return commandDocumentContent({
    description: `shipshape ${fleet.fleet}: restore a verified backup onto a host. Checks every archive's SHA-256 before touching anything, takes a safety backup of the current state, stops the containers that use the data, restores, starts them and waits for health. If anything fails after the first file was changed, the safety backup is put back.`,
    stepName: 'restore',
    script: 'restore.sh',
    specs: Object.fromEntries(stacks.map((s) => [s.name, backupSpec(s.backup!)])),
    executionTimeoutSeconds: 6 * 3600,
    env: { SHIPSHAPE_BUCKET: bucketName, SHIPSHAPE_PREFIX: BACKUP_PREFIX },
    parameters: {
      Timestamp: { type: 'String', description: 'Which backup: "latest" (the newest verified) or its timestamp, e.g. 20261121T020000Z.', default: 'latest', allowedPattern: '^(latest|[0-9]{8}T[0-9]{6}Z)$' },
      Sources: { type: 'String', description: 'Which sources: "*" for all, or names separated by commas (e.g. app-db,uploads).', default: '*', allowedPattern: '^([*]|[a-z0-9][a-z0-9_.-]{0,62}(,[a-z0-9][a-z0-9_.-]{0,62}){0,19})$' },
      FromHost: { type: 'String', description: 'Whose backup: "self", or the instance ID of another host of the stack (e.g. the one this host replaces).', default: 'self', allowedPattern: '^(self|i-[0-9a-f]{8}|i-[0-9a-f]{17}|mi-[0-9a-f]{17})$' },
    },
  });
}

export const DRILL = 'drill';

/** Restore drill: the newest verified backup restored into scratch space; live data is never touched. */
export function drillDocumentContent(fleet: Fleet, bucketName: string): Record<string, unknown> | undefined {
  const stacks = fleet.stacks.filter((s) => s.backup);
  if (stacks.length === 0) return undefined;
  return commandDocumentContent({
    description: `shipshape ${fleet.fleet}: restore drill. Downloads the newest verified backup of this host into a scratch directory, checks every SHA-256, extracts each archive and runs integrity_check on SQLite copies, then deletes the scratch copy. Never touches live data.`,
    stepName: 'drill',
    script: 'drill.sh',
    specs: Object.fromEntries(stacks.map((s) => [s.name, backupSpec(s.backup!)])),
    executionTimeoutSeconds: 6 * 3600,
    env: { SHIPSHAPE_BUCKET: bucketName, SHIPSHAPE_PREFIX: BACKUP_PREFIX },
  });
}
