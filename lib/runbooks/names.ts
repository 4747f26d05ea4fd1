/**
 * Names shared by the documents (synth time) and the Lambdas (run time): runbooks, document
 * parameters, S3 prefixes. Depends on nothing, so Lambda bundles never pull build-time code.
 */
export const HEALTH_CHECK = 'health-check';
export const BACKUP = 'backup';
export const RESTORE = 'restore';
export const DRILL = 'drill';
export const INTEGRITY = 'integrity';
export const MAINTENANCE = 'maintenance';
export const RESTART = 'restart';
export const APPLY_SECRET = 'apply-secret';
export const PREFLIGHT = 'preflight';
export const SECRET_GRACE = 'secret-grace';

export const RUNBOOK_NAMES = [HEALTH_CHECK, BACKUP, RESTORE, DRILL, INTEGRITY, MAINTENANCE, RESTART, APPLY_SECRET, PREFLIGHT, SECRET_GRACE] as const;
export type RunbookName = (typeof RUNBOOK_NAMES)[number];

/** Parameters every Command document has. */
export const STACK_PARAM = 'Stack';
export const RUN_ID_PARAM = 'RunId';
export const TIMEOUT_PARAM = 'ExecutionTimeout';

/** Backups live under backups/<stack>/<host>/<time>/ in the backup bucket. */
export const BACKUP_PREFIX = 'backups';
export const SERVICES_PATTERN = '^([*]|[a-z][a-z0-9-]{0,39}(,[a-z][a-z0-9-]{0,39}){0,49})$';
export const STAGES = ['AWSPENDING', 'AWSCURRENT', 'AWSPREVIOUS'] as const;

/** Name of a secret shipshape creates: shipshape/<fleet>/<stack>/<name>. */
export function secretName(fleet: string, stack: string, name: string): string {
  return `shipshape/${fleet}/${stack}/${name}`;
}

/** How Secrets Manager knows a configured secret: the adopted ARN, or the name shipshape gave it. */
export function secretId(fleet: string, stack: string, secret: { name: string; secretArn?: string | undefined }): string {
  return secret.secretArn ?? secretName(fleet, stack, secret.name);
}

/** The fleet config beside each function's bundle (lib/constructs/function.ts, lambdas/shared/fleet.ts). */
export const FLEET_FILE = 'fleet.json';
