/**
 * What operators start from the console, and the fleet's one hourly sweep:
 *   rotate-now  asks Secrets Manager to rotate one secret now (the four steps run as scheduled ones do)
 *   rotate-all  the same for every secret of a stack, or of the fleet ("*"): after a security
 *               incident; one line per secret says whether its rotation started or why not
 *   rollback    puts the previous value back: every host applies AWSPREVIOUS, every container
 *               is verified and every host passes its health check; only then does AWSCURRENT
 *               move back. If the hosts fail, they get AWSCURRENT again and nothing moves.
 *   adopt       the first-rotation path: every host applies AWSCURRENT and every container is
 *               verified to hold it (nothing moves in Secrets Manager). Run it once the hosts are
 *               tagged and their role holds the HostSecretsPolicy, before the first rotation.
 *   sweep       hourly, for the whole fleet: ends grace periods (the previous value removed from
 *               every host and verified, then the version labelled shipshape-grace-ended) and
 *               rolls back rotations Secrets Manager abandoned half way (AWSPENDING older than a day).
 * Host runs are named by the secret version, so every action resumes where an earlier invocation
 * stopped (StepNotFinished) without sending anything twice.
 */
import {
  DescribeSecretCommand, paginateListSecretVersionIds, RotateSecretCommand, UpdateSecretVersionStageCommand, type DescribeSecretCommandOutput, type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import * as z from 'zod';
import { SECRET_GRACE_END, type SecretGraceResult } from '../../lib/results/secret-grace.js';
import { secretId } from '../../lib/runbooks/names.js';
import { extractJson } from '../result/invocation.js';
import { parseOrThrow } from '../shared/errors.js';
import type { HostRun } from './commands.js';
import {
  fullClock, GRACE_ENDED_LABEL, graceEnds, moveLabel, ROLLED_BACK_LABEL, RotationError, stackOperations, StepNotFinished, verifiedProblem, versionRunId,
  type RotationClients, type RotationContext, type Target,
} from './rotate.js';

const REF = /^[a-z0-9][a-z0-9-]{0,39}\/([a-z0-9][a-z0-9-]{0,62}|\*)$/;
export const OperatorEvent = z.discriminatedUnion('action', [
  z.object({ action: z.enum(['rotate-now', 'rollback']), secret: z.string().regex(/^[a-z0-9][a-z0-9-]{0,39}\/[a-z0-9][a-z0-9-]{0,62}$/, 'expected <stack>/<secret>'), runId: z.string().regex(/^[A-Za-z0-9-]{1,64}$/).optional() }),
  z.object({ action: z.literal('adopt'), secret: z.string().regex(REF, 'expected <stack>/<secret> or <stack>/*'), runId: z.string().regex(/^[A-Za-z0-9-]{1,64}$/).optional() }),
  z.object({ action: z.literal('rotate-all'), stack: z.string().regex(/^([a-z0-9][a-z0-9-]{0,39}|\*)$/, 'expected a stack name or *') }),
  z.object({ action: z.literal('sweep') }),
]);

/** Between rounds of rotate-all (the second secret of each stack after the first ...). */
export const ROTATE_ALL_PAUSE_MS = 15_000;

/** A rotation whose AWSPENDING is older than this was abandoned by Secrets Manager (its window is at most a UTC day). */
export const ABANDONED_AFTER_MS = 26 * 3_600_000;

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

/** When a version was created: ListSecretVersionIds pages through a secret's versions (the SDK's paginator). */
export async function createdDate(sm: SecretsManagerClient, secretId: string, versionId: string): Promise<Date | undefined> {
  for await (const page of paginateListSecretVersionIds({ client: sm }, { SecretId: secretId, IncludeDeprecated: false })) {
    const found = page.Versions?.find((v) => v.VersionId === versionId);
    if (found) return found.CreatedDate;
  }
  return undefined;
}

const labelled = (desc: DescribeSecretCommandOutput, label: string) => Object.entries(desc.VersionIdsToStages ?? {}).find(([, s]) => s.includes(label))?.[0];

export async function operate(clients: RotationClients, ctx: RotationContext, event: unknown): Promise<string> {
  const ev = parseOrThrow(OperatorEvent, event, 'console request');
  switch (ev.action) {
    case 'rotate-now': {
      const target = operatorTarget(ctx, ev.secret);
      const out = await clients.sm.send(new RotateSecretCommand({ SecretId: target.secretId }));
      return `rotation of ${ev.secret} started (version ${out.VersionId ?? 'unknown'}); a message says when it is done, a critical alert if it fails`;
    }
    case 'rotate-all':
      return rotateAll(clients, ctx, ev.stack);
    case 'adopt':
      return adopt(clients, ctx, ev.secret, ev.runId);
    case 'sweep':
      return sweep(clients, ctx);
    case 'rollback':
      return rollback(clients, ctx, ev.secret, ev.runId);
  }
}

/** Starts a rotation of every secret of a stack or of the fleet; one line per secret. Fails when any could not start. */
export async function rotateAll(clients: RotationClients, ctx: RotationContext, scope: string): Promise<string> {
  const stacks = scope === '*' ? ctx.fleet.stacks : ctx.fleet.stacks.filter((s) => s.name === scope);
  if (!stacks.length) throw new RotationError(`${scope} is not a stack of fleet ${ctx.fleet.fleet}`);
  const lines: string[] = [];
  let refused = 0;
  const clock = fullClock(ctx.clock);
  // Round by round: the first secret of every stack, then the second ... Secrets of one stack share
  // env files and services, so their host runs go one at a time (runOnStack's exclusiveWith); the
  // pause lets each round's first step send before the next round's looks.
  const rounds = Math.max(0, ...stacks.map((st) => st.secrets.length));
  for (let round = 0; round < rounds; round++) {
    if (round > 0) await clock.sleep(ROTATE_ALL_PAUSE_MS);
    for (const stack of stacks) {
      const secret = stack.secrets[round];
      if (!secret) continue;
      const ref = `${stack.name}/${secret.name}`;
      try {
        const out = await clients.sm.send(new RotateSecretCommand({ SecretId: secretId(ctx.fleet.fleet, stack.name, secret) }));
        lines.push(`${ref}: rotation started (version ${out.VersionId ?? 'unknown'})`);
      } catch (err) {
        refused++;
        lines.push(`${ref}: NOT started: ${(err as Error).message}`);
      }
    }
  }
  if (!lines.length) throw new RotationError(`no secrets in ${scope === '*' ? `fleet ${ctx.fleet.fleet}` : `stack ${scope}`}`);
  const report = [`rotate-all ${scope}: ${lines.length - refused} of ${lines.length} rotations started; each ends in a message (done) or a critical alert (rolled back).`, ...lines].join('\n');
  if (refused) throw new RotationError(report);
  return report;
}

/** The first-rotation path: AWSCURRENT on every host of the secret's stack, every container verified. */
export async function adopt(clients: RotationClients, ctx: RotationContext, ref: string, runId?: string): Promise<string> {
  const [stackName, name] = ref.split('/');
  const refs = name === '*' ? (ctx.fleet.stacks.find((s) => s.name === stackName)?.secrets ?? []).map((s) => `${stackName}/${s.name}`) : [ref];
  if (!refs.length) throw new RotationError(`stack ${stackName} has no secrets in fleet ${ctx.fleet.fleet}`);
  const lines: string[] = [];
  let failed = 0;
  for (const r of refs) {
    const target = operatorTarget(ctx, r);
    const desc = await clients.sm.send(new DescribeSecretCommand({ SecretId: target.secretId }));
    const current = labelled(desc, 'AWSCURRENT');
    if (!current) throw new RotationError(`${r} has no AWSCURRENT version`);
    const failures = await stackOperations(clients, ctx, target).reapply('AWSCURRENT', versionRunId('adp', runId ? `${runId}/${r}` : current));
    if (failures === true) lines.push(`${r}: every container of every host holds AWSCURRENT (${current}); ready to rotate`);
    else { failed++; lines.push(`${r}: NOT adopted: ${failures}`); }
  }
  const report = lines.join('\n');
  if (failed) throw new RotationError(report);
  return report;
}

async function rollback(clients: RotationClients, ctx: RotationContext, ref: string, runId?: string): Promise<string> {
  const target = operatorTarget(ctx, ref);
  const desc = await clients.sm.send(new DescribeSecretCommand({ SecretId: target.secretId }));
  const current = labelled(desc, 'AWSCURRENT');
  const previous = labelled(desc, 'AWSPREVIOUS');
  if (!current || !previous) throw new RotationError(`${ref} has no previous version to go back to (never rotated)`);
  const pending = labelled(desc, 'AWSPENDING');
  if (pending && pending !== current) throw new RotationError(`${ref} is being rotated (version ${pending} is AWSPENDING); wait for it to end, or remove that label, before rolling back`);

  const ops = stackOperations(clients, ctx, target);
  // One console run, one set of host runs: a later rollback of the same versions starts afresh.
  const key = `${runId ?? current}/${previous}`;
  const failures = [...await ops.apply('AWSPREVIOUS', versionRunId('rlb', key), verifiedProblem)];
  if (!failures.length) failures.push(...await ops.healthCheck(versionRunId('rhc', key)));
  if (failures.length) {
    const restored = await ops.reapply('AWSCURRENT', versionRunId('rlc', key));
    await ops.alert(`rollback of ${target.secret.name} failed`, [
      `Rolling ${ref} back to its previous version failed. AWSCURRENT was not moved.`,
      '', 'Where:', ...failures.map(([host, why]) => `  ${host}: ${why}`), '',
      restored === true ? 'Every host has the AWSCURRENT value again and its services were restarted or recreated.' : `Re-applying AWSCURRENT FAILED: ${restored}. Run the apply-secret document with Stage AWSCURRENT on these hosts.`,
    ]);
    throw new RotationError(`rollback of ${ref} failed on ${failures.map(([h]) => h).join(', ')}`);
  }
  // Secrets Manager follows the hosts: the old version is current again, the rolled-back one previous.
  await clients.sm.send(new UpdateSecretVersionStageCommand({ SecretId: target.secretId, VersionStage: 'AWSCURRENT', MoveToVersionId: previous, RemoveFromVersionId: current }));
  await ops.alert(`${target.secret.name} rolled back`, [
    `${ref} was rolled back by an operator: every container of every host holds the previous value and every host passed its health check.`,
    `Version ${previous} is AWSCURRENT again; ${current} is AWSPREVIOUS. The next scheduled rotation creates a new value as usual.`,
  ], 'info');
  return `rollback of ${ref}: version ${previous} is AWSCURRENT again on every host`;
}

function graceProblem(r: HostRun): string | undefined {
  if (r.status !== 'Success') return `${SECRET_GRACE_END} ended ${r.status}`;
  let doc: SecretGraceResult;
  try {
    doc = extractJson(r.stdout) as SecretGraceResult;
  } catch {
    return `${SECRET_GRACE_END} printed no result`;
  }
  const still = (doc.containers ?? []).filter((c) => c.holdsPrevious).map((c) => c.container);
  if (still.length) return `containers still hold the previous value: ${still.join(', ')}`;
  if (doc.errors?.length) return doc.errors.join('; ');
  if (doc.verified !== true) return 'the host did not verify its containers';
  return undefined;
}

/**
 * One pass over every configured secret: grace periods that ended, rotations abandoned half way.
 * A secret whose host run needs longer than this invocation is resumed by the next sweep.
 */
export async function sweep(clients: RotationClients, ctx: RotationContext): Promise<string> {
  const clock = fullClock(ctx.clock);
  const now = clock.now();
  const lines: string[] = [];
  const errors: string[] = [];
  for (const stack of ctx.fleet.stacks) {
    for (const secret of stack.secrets) {
      const ref = `${stack.name}/${secret.name}`;
      const target: Target = { stack, secret };
      const id = secretId(ctx.fleet.fleet, stack.name, secret);
      try {
        const desc = await clients.sm.send(new DescribeSecretCommand({ SecretId: id }));
        const current = labelled(desc, 'AWSCURRENT');
        const pending = labelled(desc, 'AWSPENDING');
        const ops = stackOperations(clients, ctx, target);
        if (pending && pending !== current && !(desc.VersionIdsToStages?.[pending] ?? []).includes(ROLLED_BACK_LABEL)) {
          const created = await createdDate(clients.sm, id, pending);
          if (created && now - created.getTime() > ABANDONED_AFTER_MS) {
            const restored = await ops.reapply('AWSCURRENT', versionRunId('abn', pending));
            await ops.alert(`rotation of ${secret.name} abandoned`, [
              `A rotation of ${ref} started ${created.toISOString().slice(0, 16)}Z (version ${pending}) never finished: Secrets Manager stopped retrying before every host was done. AWSCURRENT was not moved.`,
              restored === true ? 'Every container of every host holds AWSCURRENT again (verified).' : `Re-applying AWSCURRENT FAILED: ${restored}. Run the apply-secret document with Stage AWSCURRENT on these hosts.`,
              restored === true ? `Version ${pending} is labelled ${ROLLED_BACK_LABEL} and no longer AWSPENDING; the next rotation starts afresh.` : `Version ${pending} stays AWSPENDING until the hosts are fixed.`,
            ]);
            await moveLabel(clients.sm, id, ROLLED_BACK_LABEL, pending, desc.VersionIdsToStages ?? {});
            if (restored === true) await clients.sm.send(new UpdateSecretVersionStageCommand({ SecretId: id, VersionStage: 'AWSPENDING', RemoveFromVersionId: pending }));
            lines.push(`${ref}: abandoned rotation ${pending} rolled back${restored === true ? '' : ' (FAILED on some hosts)'}`);
          }
          // A rotation under way: its previous value is still needed.
          continue;
        }
        const previous = labelled(desc, 'AWSPREVIOUS');
        const ends = graceEnds(secret, desc.LastRotatedDate);
        if (!previous || !ends || ends.getTime() > now) continue;
        if ((desc.VersionIdsToStages?.[previous] ?? []).includes(GRACE_ENDED_LABEL)) continue;
        const until = `${ends.toISOString().slice(0, 16)}Z`;
        // One attempt a day (a failed one is alerted by the result function); the hourly sweeps resume it.
        const runs = await ops.run(SECRET_GRACE_END, versionRunId('grc', `${previous}/${new Date(now).toISOString().slice(0, 10)}`), { Secret: secret.name, GraceEnded: until });
        const failures = runs.map((r) => [r.instanceId, graceProblem(r)] as const).filter(([, why]) => why !== undefined);
        if (failures.length) {
          // The result function alerts on each host's result (alert state, repeats, resolve); retried next hour.
          lines.push(`${ref}: grace period ended ${until}; the previous value is still on ${failures.map(([h, why]) => `${h} (${why})`).join(', ')}; retried by the next sweep`);
          continue;
        }
        await moveLabel(clients.sm, id, GRACE_ENDED_LABEL, previous, desc.VersionIdsToStages ?? {});
        lines.push(`${ref}: grace period ended ${until}; the previous value is gone from ${runs.length} host(s), verified`);
      } catch (err) {
        if (err instanceof StepNotFinished) { lines.push(`${ref}: ${err.message}; the next sweep resumes`); continue; }
        errors.push(`${ref}: ${(err as Error).message}`);
      }
    }
  }
  const report = [`sweep: ${lines.length} action(s), ${errors.length} error(s)`, ...lines, ...errors].join('\n');
  if (errors.length) throw new RotationError(report);
  return report;
}
