/**
 * The preflight runbook: checks each stack's config against each host before the first scheduled
 * run would find out (lib/host-scripts/preflight.sh). Read-only. It reads every section of the
 * stack's spec (compose, health-check, backup, integrity, maintenance, secrets) and needs no
 * section of its own; it uses the backup bucket (SHIPSHAPE_BUCKET) for the access check.
 */
import type { Schedule } from '../config/schema.js';
import type { RunbookDeclaration } from './document.js';
import { PREFLIGHT } from './names.js';

export { PREFLIGHT };

/** Daily, in the morning UTC: after the nightly backups, before people start their day. */
export const PREFLIGHT_SCHEDULE: Schedule = { cron: '30 6 * * ? *', timezone: 'UTC', enabled: true };

export const preflightRunbook: RunbookDeclaration = {
  name: PREFLIGHT,
  script: 'preflight.sh',
  stepName: 'preflight',
  description: (fleet) => `shipshape ${fleet}: preflight of a Docker-compose stack: checks that the config matches the host (compose project, every service, container, volume, path, env file and database file), that every tool the stack's runbooks need is there with its version (AWS CLI and its checksums, zstd, sqlite3, pg_dump, openssl, curl), free space for backup temporary files, the region, how each secret reaches its containers, and access to the backup bucket. Read-only: it changes nothing.`,
  executionTimeoutSeconds: 600,
  appliesTo: () => true,
  schedules: () => [PREFLIGHT_SCHEDULE],
  usesBackupBucket: true,
  console: {
    name: 'preflight-now',
    kind: 'dispatch',
    description: (fleet) => `shipshape ${fleet}: run the preflight of one stack now, on all of its hosts: does the config match what is on the host, and does each host have what the stack's runbooks need? Read-only.`,
  },
};
