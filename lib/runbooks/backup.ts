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
