/** The apply-secret runbook: puts one version of a stack's secret into its env file on the hosts. */
import type { Fleet, Stack } from '../config/schema.js';
import { commandDocumentContent, encodeSpec } from './document.js';

export const APPLY_SECRET = 'apply-secret';
export const STAGES = ['AWSPENDING', 'AWSCURRENT', 'AWSPREVIOUS'] as const;

/** Name of a secret shipshape creates: shipshape/<fleet>/<stack>/<name>. */
export function secretName(fleet: string, stack: string, name: string): string {
  return `shipshape/${fleet}/${stack}/${name}`;
}

/** How Secrets Manager knows a configured secret: the adopted ARN, or the name shipshape gave it. */
export function secretId(fleet: string, stack: string, secret: { name: string; secretArn?: string | undefined }): string {
  return secret.secretArn ?? secretName(fleet, stack, secret.name);
}

export function secretsSpec(fleet: Fleet, stack: Stack): string {
  const containerOf = (svc: string) => stack.services.find((s) => s.name === svc)!.container;
  return encodeSpec(stack.secrets.map((s) => [
    'secret', s.name, secretId(fleet.fleet, stack.name, s),
    ...(s.file ? ['file', s.file, '-', s.previousFile ?? '-'] : ['env', s.envFile!, s.variable!, s.previousVariable ?? '-']), s.mode,
    s.restart.length ? s.restart.map(containerOf).join(',') : '-',
  ]));
}

export function applySecretDocumentContent(fleet: Fleet): Record<string, unknown> | undefined {
  const stacks = fleet.stacks.filter((s) => s.secrets.length);
  if (stacks.length === 0) return undefined;
  const names = [...new Set(stacks.flatMap((s) => s.secrets.map((x) => x.name)))].sort();
  return commandDocumentContent({
    description: `shipshape ${fleet.fleet}: apply a version of an application secret on a host. The host reads it from Secrets Manager with its own role (the value never travels in parameters or output), writes the env file or secret file atomically keeping the previous file, and restarts the listed services in order.`,
    stepName: 'applySecret',
    script: 'apply-secret.sh',
    specs: Object.fromEntries(stacks.map((s) => [s.name, secretsSpec(fleet, s)])),
    executionTimeoutSeconds: 900,
    parameters: {
      Secret: { type: 'String', description: 'Which secret of the stack.', allowedValues: names },
      Stage: { type: 'String', description: 'Which version: AWSPENDING while rotating, AWSCURRENT to roll back, AWSPREVIOUS to go back one rotation.', default: 'AWSCURRENT', allowedValues: [...STAGES] },
    },
  });
}
