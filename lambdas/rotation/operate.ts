/**
 * What operators start from the console for a secret:
 *   rotate-now  asks Secrets Manager to rotate now (the four steps run as scheduled ones do)
 *   rollback    puts the previous value back: every host applies AWSPREVIOUS and must pass
 *               its health check; only then does AWSCURRENT move back to that version.
 *               If the hosts fail, they get AWSCURRENT again and nothing moves.
 * And, daily from a schedule, the age of every configured secret, for the missed-rotation alarms.
 */
import { DescribeSecretCommand, RotateSecretCommand, UpdateSecretVersionStageCommand } from '@aws-sdk/client-secrets-manager';
import * as z from 'zod';
import { secretId } from '../../lib/runbooks/names.js';
import { parseOrThrow } from '../shared/errors.js';
import { RotationError, stackOperations, type RotationClients, type RotationContext, type Target } from './rotate.js';

export const AgeReportEvent = z.object({ action: z.literal('report-age') });

export interface SecretAge {
  /** <stack>/<name> */
  readonly secret: string;
  /** Days since the last rotation, or since creation if never rotated. */
  readonly ageDays: number;
  readonly rotationDays: number;
}

/** The age of every configured secret. One that cannot be described is reported, not skipped. */
export async function secretAges(clients: Pick<RotationClients, 'sm'>, ctx: Pick<RotationContext, 'fleet'>, now: Date): Promise<{ ages: SecretAge[]; errors: string[] }> {
  const ages: SecretAge[] = [];
  const errors: string[] = [];
  for (const stack of ctx.fleet.stacks) {
    for (const secret of stack.secrets) {
      const ref = `${stack.name}/${secret.name}`;
      try {
        const d = await clients.sm.send(new DescribeSecretCommand({ SecretId: secretId(ctx.fleet.fleet, stack.name, secret) }));
        const since = d.LastRotatedDate ?? d.CreatedDate;
        if (!since) throw new Error('Secrets Manager returned neither LastRotatedDate nor CreatedDate');
        ages.push({ secret: ref, ageDays: Math.max(0, Math.floor((now.getTime() - since.getTime()) / 86_400_000 * 10) / 10), rotationDays: secret.rotationDays });
      } catch (err) {
        errors.push(`${ref}: ${(err as Error).message}`);
      }
    }
  }
  return { ages, errors };
}

export const OperatorEvent = z.object({
  action: z.enum(['rotate-now', 'rollback']),
  secret: z.string().regex(/^[a-z0-9][a-z0-9-]{0,39}\/[a-z0-9][a-z0-9-]{0,62}$/, 'expected <stack>/<secret>'),
  runId: z.string().regex(/^[A-Za-z0-9-]{1,64}$/).optional(),
});

/** The configured secret named `<stack>/<secret>`, and the ID Secrets Manager knows it by. */
export function operatorTarget(ctx: RotationContext, ref: string): Target & { secretId: string } {
  const [stackName, name] = ref.split('/');
  const stack = ctx.fleet.stacks.find((s) => s.name === stackName);
  const secret = stack?.secrets.find((s) => s.name === name);
  if (!stack || !secret) {
    const known = ctx.fleet.stacks.flatMap((s) => s.secrets.map((x) => `${s.name}/${x.name}`));
    throw new RotationError(`${ref} is not a secret of fleet ${ctx.fleet.fleet}; known: ${known.join(', ') || 'none'}`);
  }
  return { stack, secret, secretId: secretId(ctx.fleet.fleet, stack.name, secret) };
}

export async function operate(clients: RotationClients, ctx: RotationContext, event: unknown): Promise<string> {
  const { action, secret: ref, runId } = parseOrThrow(OperatorEvent, event, 'console request');
  const target = operatorTarget(ctx, ref);
  if (action === 'rotate-now') {
    const out = await clients.sm.send(new RotateSecretCommand({ SecretId: target.secretId }));
    return `rotation of ${ref} started (version ${out.VersionId ?? 'unknown'}); its outcome arrives as an alert only if it fails`;
  }

  const desc = await clients.sm.send(new DescribeSecretCommand({ SecretId: target.secretId }));
  const stages = Object.entries(desc.VersionIdsToStages ?? {});
  const current = stages.find(([, s]) => s.includes('AWSCURRENT'))?.[0];
  const previous = stages.find(([, s]) => s.includes('AWSPREVIOUS'))?.[0];
  if (!current || !previous) throw new RotationError(`${ref} has no previous version to go back to (never rotated)`);
  const pending = stages.find(([, s]) => s.includes('AWSPENDING'));
  if (pending) throw new RotationError(`${ref} is being rotated (version ${pending[0]} is AWSPENDING); wait for it to end, or remove that label, before rolling back`);

  const ops = stackOperations(clients, ctx, target, `rollback-${runId ?? current}`);
  const failures = [...await ops.apply('AWSPREVIOUS')];
  if (!failures.length) failures.push(...await ops.healthCheck());
  if (failures.length) {
    const restored = await ops.reapply('AWSCURRENT');
    await ops.alert(`rollback of ${target.secret.name} failed`, [
      `Rolling ${ref} back to its previous version failed. AWSCURRENT was not moved.`,
      '', 'Where:', ...failures.map(([host, why]) => `  ${host}: ${why}`), '',
      restored === true ? 'Every host has the AWSCURRENT value again and its services were restarted.' : `Re-applying AWSCURRENT FAILED: ${restored}. Run the apply-secret document with Stage AWSCURRENT on these hosts.`,
    ]);
    throw new RotationError(`rollback of ${ref} failed on ${failures.map(([h]) => h).join(', ')}`);
  }
  // Secrets Manager follows the hosts: the old version is current again, the rolled-back one previous.
  await clients.sm.send(new UpdateSecretVersionStageCommand({ SecretId: target.secretId, VersionStage: 'AWSCURRENT', MoveToVersionId: previous, RemoveFromVersionId: current }));
  await ops.alert(`${target.secret.name} rolled back`, [
    `${ref} was rolled back by an operator: every host applied the previous value and passed its health check.`,
    `Version ${previous} is AWSCURRENT again; ${current} is AWSPREVIOUS. The next scheduled rotation creates a new value as usual.`,
  ], 'info');
  return `rollback of ${ref}: version ${previous} is AWSCURRENT again on every host`;
}
