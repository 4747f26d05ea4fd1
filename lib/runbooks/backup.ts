/** The backup, restore and drill runbooks: what each stack's hosts archive, and how it comes back. */
import type { Backup } from '../config/schema.js';
import type { DocumentParameter, RunbookDeclaration } from './document.js';
import { BACKUP, BACKUP_PREFIX, DRILL, RESTORE } from './names.js';

export { BACKUP, BACKUP_PREFIX, DRILL, RESTORE };

export function backupSpecLines(backup: Backup): (string | number)[][] {
  return [
    ['conf', backup.compression, backup.level, backup.stopTimeoutSeconds, backup.fullEvery],
    ...backup.exclude.map((e) => ['exclude', e]),
    ...backup.hooks.pre.map((h) => ['pre', h.container, ...h.command]),
    ...backup.hooks.post.map((h) => ['post', h.container, ...h.command]),
    ...backup.sqlite.map((s) => ['sqlite', s.name, s.container, s.path, s.runIn]),
    ...backup.postgres.map((s) => ['postgres', s.name, s.container, s.database, s.user]),
    ...backup.stop.map((c) => ['stop', c]),
    ...backup.volumes.map((v) => ['volume', v.name]),
    ...backup.paths.map((p) => ['path', p.name, p.path]),
  ];
}

export const backupRunbook: RunbookDeclaration = {
  name: BACKUP,
  script: 'backup.sh',
  stepName: 'backup',
  description: (fleet) => `shipshape ${fleet}: backup of a Docker-compose stack to S3. Consistent SQLite snapshots (checked with integrity_check), volumes and paths as one archive each, containers listed under "stop" stopped for the copy and always started again, streamed through zstd with SHA-256 checksums, and a manifest written last.`,
  executionTimeoutSeconds: 3 * 3600,
  appliesTo: (stack) => !!stack.backup,
  schedules: (_fleet, stack) => (stack.backup ? [stack.backup.schedule] : []),
  usesBackupBucket: true,
  console: {
    name: 'backup-now',
    kind: 'dispatch',
    description: (fleet) => `shipshape ${fleet}: back up one stack now, on all of its hosts, exactly as the schedule does. The backup is verified and alerts follow the usual path. Containers listed under backup.stop are stopped for the copy and always started again.`,
  },
};

export const RESTORE_PARAMETERS: Readonly<Record<string, DocumentParameter>> = {
  Timestamp: { type: 'String', description: 'Which backup: "latest" (the newest verified) or its timestamp, e.g. 20261121T020000Z.', default: 'latest', allowedPattern: '^(latest|[0-9]{8}T[0-9]{6}Z)$' },
  Sources: { type: 'String', description: 'Which sources: "*" for all, or names separated by commas (e.g. app-db,uploads).', default: '*', allowedPattern: '^([*]|[a-z0-9][a-z0-9_.-]{0,62}(,[a-z0-9][a-z0-9_.-]{0,62}){0,19})$' },
  FromHost: { type: 'String', description: 'Whose backup: "self", or the instance ID of another host of the stack (e.g. the one this host replaces).', default: 'self', allowedPattern: '^(self|i-[0-9a-f]{8}|i-[0-9a-f]{17}|mi-[0-9a-f]{17})$' },
  AllowUnverified: { type: 'String', description: 'Restore a run that was never verified ("true"). Only offered in the console when restores wait for an approver.', default: 'false', allowedValues: ['false', 'true'] },
  UploadPreRestoreBackup: { type: 'String', description: 'Also upload a full backup of the current data to S3 before the restore ("true"; slower). By default the current data is only set aside on the host (renamed, O(1)) and put back if the restore fails.', default: 'false', allowedValues: ['false', 'true'] },
};

/** Restore: the backup spec again (sources, stop list), and which run and sources to put back. */
export const restoreRunbook: RunbookDeclaration = {
  name: RESTORE,
  script: 'restore.sh',
  stepName: 'restore',
  description: (fleet) => `shipshape ${fleet}: restore a verified backup onto a host. Downloads every archive once and checks its SHA-256 before touching anything, stops the containers that use the data, sets the current data aside on the host (renamed, or copied when it is a mount point), restores, starts them and waits for health. If anything fails, the data set aside is put back; on success it is removed. UploadPreRestoreBackup=true also uploads a safety backup first.`,
  executionTimeoutSeconds: 6 * 3600,
  appliesTo: (stack) => !!stack.backup,
  usesBackupBucket: true,
  parameters: RESTORE_PARAMETERS,
  console: {
    name: 'restore',
    kind: 'host',
    description: (fleet) => `shipshape ${fleet}: restore a backup onto one host. Destructive: it replaces the chosen data. It first checks every archive's checksum and sets the current data aside on the host; if the restore fails, that data is put back. Choose the stack, the host, which backup (latest verified by default), and whether to also upload a safety backup of the current data first.`,
  },
};

/** Restore drill: the newest verified backup restored into scratch space; live data is never touched. */
export const drillRunbook: RunbookDeclaration = {
  name: DRILL,
  script: 'drill.sh',
  stepName: 'drill',
  description: (fleet) => `shipshape ${fleet}: restore drill. Downloads the newest verified backup of this host into a scratch directory, checks every SHA-256, extracts each archive and runs integrity_check on SQLite copies, then deletes the scratch copy. Never touches live data.`,
  executionTimeoutSeconds: 6 * 3600,
  appliesTo: (stack) => !!stack.backup,
  schedules: (_fleet, stack) => (stack.backup ? [stack.backup.drill] : []),
  usesBackupBucket: true,
  console: {
    name: 'drill-now',
    kind: 'dispatch',
    description: (fleet) => `shipshape ${fleet}: run the restore drill of one stack now: every host downloads its newest verified backup into scratch space, checks the checksums, extracts it and checks SQLite copies. Live data is never touched.`,
  },
};
