/** The maintenance runbook: SQLite VACUUM/ANALYZE/REINDEX after a checked backup, and pruning. */
import type { Maintenance } from '../config/schema.js';
import type { RunbookDeclaration } from './document.js';
import { MAINTENANCE } from './names.js';

export { MAINTENANCE };

export function maintenanceSpecLines(m: Maintenance): (string | number | boolean)[][] {
  return [
    ...m.sqlite.map((s) => ['sqlite', s.name, s.container, s.path, s.operations.join(','), s.online]),
    ...(m.prune.images ? [['prune', 'images', m.prune.olderThanHours]] : []),
    ...(m.prune.containers ? [['prune', 'containers', m.prune.olderThanHours]] : []),
  ];
}

/** Reads the maintenance section, and the backup section for the backup taken first. */
export const maintenanceRunbook: RunbookDeclaration = {
  name: MAINTENANCE,
  script: 'maintenance.sh',
  stepName: 'maintenance',
  description: (fleet) => `shipshape ${fleet}: maintenance of a Docker-compose stack. Takes a backup and checks it in S3 first; then runs VACUUM/ANALYZE/REINDEX on the listed SQLite databases with their containers stopped (started again whatever happens) and checks integrity afterwards; then prunes unused images and stopped containers older than the limit. Never prunes volumes.`,
  executionTimeoutSeconds: 4 * 3600,
  appliesTo: (stack) => !!stack.maintenance,
  schedules: (_fleet, stack) => (stack.maintenance ? [stack.maintenance.schedule] : []),
  usesBackupBucket: true,
};
