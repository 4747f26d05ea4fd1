/**
 * Turns "run runbook R on stack S" into as few SendCommand calls as possible: one per
 * stack when hosts are chosen by tag, one per 50 instance IDs otherwise. SSM fans the
 * command out to the hosts, with MaxConcurrency and MaxErrors as rate controls.
 */
import { SendCommandCommand, type SendCommandCommandInput, type SSMClient, type Target } from '@aws-sdk/client-ssm';
import * as z from 'zod';
import { RUN_ID } from '../../lib/config/patterns.js';
import { findStack, stackDispatch } from '../../lib/config/resolve.js';
import { FLEET_TAG_KEY, type Fleet, type Stack } from '../../lib/config/schema.js';
import { BACKUP, DRILL } from '../../lib/runbooks/names.js';
import { INTEGRITY } from '../../lib/runbooks/names.js';
import { MAINTENANCE } from '../../lib/runbooks/names.js';
import { RUN_ID_PARAM, STACK_PARAM, TIMEOUT_PARAM } from '../../lib/runbooks/names.js';
import { commandComment } from '../shared/command-comment.js';
import { InputError, isThrottle } from '../shared/errors.js';
import { withBackoff, type BackoffOptions } from '../shared/retry.js';

export const DispatchEvent = z.strictObject({
  runbook: z.string().regex(/^[a-z][a-z-]{1,39}$/),
  stack: z.string().regex(/^[a-z][a-z0-9-]{0,39}$/),
  trigger: z.enum(['schedule', 'console', 'manual', 'rotation']).default('manual'),
  runId: z.string().regex(RUN_ID).optional(),
});
export type DispatchEvent = z.infer<typeof DispatchEvent>;

export interface DispatchContext {
  readonly fleet: Fleet;
  /** Runbook name to SSM document name. */
  readonly documents: Readonly<Record<string, string>>;
  readonly outputBucket: string;
  readonly now?: () => Date;
  readonly random?: () => number;
  readonly backoff?: BackoffOptions;
}

export interface DispatchResult {
  readonly runId: string;
  readonly runbook: string;
  readonly stack: string;
  readonly commandIds: string[];
  readonly calls: number;
  readonly throttled: number;
}

/** SendCommand takes at most 50 instance IDs per call. */
export const MAX_IDS_PER_CALL = 50;

export function newRunId(runbook: string, stack: string, now: Date, random: () => number): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const suffix = Math.floor(random() * 36 ** 4).toString(36).padStart(4, '0');
  return `${runbook}-${stack}-${stamp}-${suffix}`.slice(0, 64).replace(/[^A-Za-z0-9-]/g, '-');
}

/** Target sets for a stack: every set also requires the fleet tag, so a stray tag never widens the blast radius. */
export function targetSets(fleet: Fleet, stack: Stack): Pick<SendCommandCommandInput, 'Targets' | 'InstanceIds'>[] {
  const fleetTag: Target = { Key: `tag:${FLEET_TAG_KEY}`, Values: [fleet.fleet] };
  if (stack.hosts.tag) {
    return [{ Targets: [fleetTag, { Key: `tag:${stack.hosts.tag.key}`, Values: [stack.hosts.tag.value] }] }];
  }
  const ids = stack.hosts.instanceIds ?? [];
  const sets: Pick<SendCommandCommandInput, 'InstanceIds'>[] = [];
  for (let i = 0; i < ids.length; i += MAX_IDS_PER_CALL) sets.push({ InstanceIds: ids.slice(i, i + MAX_IDS_PER_CALL) });
  return sets;
}

export function buildCommands(ctx: DispatchContext, event: DispatchEvent, runId: string): SendCommandCommandInput[] {
  const stack = findStack(ctx.fleet, event.stack);
  if (!stack) throw new InputError(`unknown stack "${event.stack}"`, [`fleet ${ctx.fleet.fleet} has ${ctx.fleet.stacks.map((s) => s.name).join(', ')}`]);
  const documentName = ctx.documents[event.runbook];
  if (!documentName) throw new InputError(`unknown runbook "${event.runbook}"`, [`known: ${Object.keys(ctx.documents).join(', ')}`]);
  const d = stackDispatch(ctx.fleet, stack);
  const needsBackup = event.runbook === BACKUP || event.runbook === DRILL || (event.runbook === MAINTENANCE && !!stack.backup);
  if (needsBackup && !stack.backup) throw new InputError(`stack "${stack.name}" has no backup section`);
  if (event.runbook === INTEGRITY && !stack.integrity) throw new InputError(`stack "${stack.name}" has no integrity section`);
  if (event.runbook === MAINTENANCE && !stack.maintenance) throw new InputError(`stack "${stack.name}" has no maintenance section`);
  const executionTimeout = needsBackup ? stack.backup!.timeoutMinutes * 60 : d.executionTimeoutSeconds;
  return targetSets(ctx.fleet, stack).map((targets) => ({
    DocumentName: documentName,
    ...targets,
    Parameters: {
      [STACK_PARAM]: [stack.name],
      [RUN_ID_PARAM]: [runId],
      [TIMEOUT_PARAM]: [String(executionTimeout)],
    },
    MaxConcurrency: d.maxConcurrency,
    MaxErrors: d.maxErrors,
    TimeoutSeconds: d.timeoutSeconds,
    Comment: commandComment(ctx.fleet.fleet, stack.name, event.runbook, runId),
    OutputS3BucketName: ctx.outputBucket,
    OutputS3KeyPrefix: `command-output/${event.runbook}/${stack.name}`,
  }));
}

export async function dispatch(ssm: Pick<SSMClient, 'send'>, ctx: DispatchContext, event: DispatchEvent): Promise<DispatchResult> {
  const now = (ctx.now ?? (() => new Date()))();
  const runId = event.runId ?? newRunId(event.runbook, event.stack, now, ctx.random ?? Math.random);
  const commands = buildCommands(ctx, event, runId);
  let calls = 0;
  let throttled = 0;
  const commandIds: string[] = [];
  for (const input of commands) {
    const out = await withBackoff(
      () => {
        calls++;
        return ssm.send(new SendCommandCommand(input));
      },
      {
        ...ctx.backoff,
        onRetry: (err, attempt, delay) => {
          if (isThrottle(err)) throttled++;
          ctx.backoff?.onRetry?.(err, attempt, delay);
        },
      },
    );
    if (out.Command?.CommandId) commandIds.push(out.Command.CommandId);
  }
  return { runId, runbook: event.runbook, stack: event.stack, commandIds, calls, throttled };
}
