/**
 * The apply-secret runbook: puts one version of a stack's secret into its env file or file on the
 * hosts, makes the receiving services take it (recreate for env files, restart for files) and
 * proves by hash that every container holds it. Spec record:
 *   secret<TAB>name<TAB>secret-id<TAB>env|file<TAB>path<TAB>variable|-<TAB>previous|-<TAB>mode<TAB>refs|-<TAB>reload
 * refs: the receiving services' compose service or container names, comma-separated.
 */
import type { Fleet, Stack } from '../config/schema.js';
import type { RunbookDeclaration } from './document.js';
import { APPLY_SECRET, secretId, secretName, STAGES } from './names.js';

export { APPLY_SECRET, secretId, secretName, STAGES };

export function secretsSpecLines(fleet: Fleet, stack: Stack): (string | number)[][] {
  const containerOf = (svc: string) => stack.services.find((s) => s.name === svc)!.container;
  return stack.secrets.map((s) => [
    'secret', s.name, secretId(fleet.fleet, stack.name, s),
    ...(s.file ? ['file', s.file, '-', s.previousFile ?? '-'] : ['env', s.envFile!, s.variable!, s.previousVariable ?? '-']), s.mode,
    s.restart.length ? s.restart.map(containerOf).join(',') : '-', s.reload,
  ]);
}

/** Secret names are validated by the spec (the host refuses a name its stack does not have). */
export const SECRET_PARAM_PATTERN = '^[a-z][a-z0-9-]{0,39}$';

export const applySecretRunbook: RunbookDeclaration = {
  name: APPLY_SECRET,
  script: 'apply-secret.sh',
  stepName: 'applySecret',
  description: (fleet) => `shipshape ${fleet}: apply a version of an application secret on a host. The host reads it from Secrets Manager with its own role (the value never travels in parameters or output), writes the env file or secret file atomically keeping the previous file, recreates (env file) or restarts (file) the receiving services and checks by hash that every container holds the new value.`,
  executionTimeoutSeconds: 900,
  appliesTo: (stack) => stack.secrets.length > 0,
  parameters: {
    Secret: { type: 'String', description: 'Which secret of the stack.', allowedPattern: SECRET_PARAM_PATTERN },
    Stage: { type: 'String', description: 'Which version: AWSPENDING while rotating, AWSCURRENT to roll back, AWSPREVIOUS to go back one rotation.', default: 'AWSCURRENT', allowedValues: [...STAGES] },
  },
};
