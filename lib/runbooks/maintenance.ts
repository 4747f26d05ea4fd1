/** The maintenance runbook: SQLite VACUUM/ANALYZE/REINDEX after a checked backup, and pruning. */
import type { Fleet, Maintenance } from '../config/schema.js';
import { BACKUP_PREFIX, backupSpec } from './backup.js';
import { commandDocumentContent, encodeSpec } from './document.js';

export const MAINTENANCE = 'maintenance';

export function maintenanceSpec(m: Maintenance): string {
  return encodeSpec([
    ...m.sqlite.map((s) => ['sqlite', s.name, s.container, s.path, s.operations.join(','), s.online]),
    ...(m.prune.images ? [['prune', 'images', m.prune.olderThanHours]] : []),
    ...(m.prune.containers ? [['prune', 'containers', m.prune.olderThanHours]] : []),
  ]);
}

export function maintenanceDocumentContent(fleet: Fleet, bucketName: string): Record<string, unknown> | undefined {
  const stacks = fleet.stacks.filter((s) => s.maintenance);
  if (stacks.length === 0) return undefined;
  return commandDocumentContent({
    description: `shipshape ${fleet.fleet}: maintenance of a Docker-compose stack. Takes a backup and checks it in S3 first; then runs VACUUM/ANALYZE/REINDEX on the listed SQLite databases with their containers stopped (started again whatever happens) and checks integrity afterwards; then prunes unused images and stopped containers older than the limit. Never prunes volumes.`,
    stepName: 'maintenance',
    script: 'maintenance.sh',
    // The backup spec drives the backup taken first; a stack without backup has only pruning.
    specs: Object.fromEntries(stacks.map((s) => [s.name, s.backup ? backupSpec(s.backup) : encodeSpec([])])),
    extraSpecs: { SHIPSHAPE_MAINTENANCE_B64: Object.fromEntries(stacks.map((s) => [s.name, maintenanceSpec(s.maintenance!)])) },
    executionTimeoutSeconds: 4 * 3600,
    env: { SHIPSHAPE_BUCKET: bucketName, SHIPSHAPE_PREFIX: BACKUP_PREFIX },
  });
}
