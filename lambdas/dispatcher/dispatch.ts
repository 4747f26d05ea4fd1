/**
 * Turns "run runbook R on stack S" into as few SendCommand calls as possible: one per stack
 * when hosts are chosen by tag, one per 50 instance IDs otherwise. SSM fans the command out to
 * the hosts, with MaxConcurrency and MaxErrors as rate controls.
 *
 * A schedule event names a schedule (expression and time zone), not a stack: one Scheduler
 * schedule serves every (runbook, stack) that shares it, so the number of schedules grows with
 * the distinct schedules of the config, never with stacks × runbooks. Its run IDs derive from
 * the scheduled time, so a redelivered event finds its runs already sent and skips them.
 */
import { SendCommandCommand, type SendCommandCommandInput, type SSMClient, type Target } from '@aws-sdk/client-ssm';
import { createHash } from 'node:crypto';
import * as z from 'zod';
import { RUN_ID } from '../../lib/config/patterns.js';
import { findStack, stackDispatch } from '../../lib/config/resolve.js';
import { FLEET_TAG_KEY, type Fleet, type Stack } from '../../lib/config/schema.js';
import { BACKUP, DRILL, INTEGRITY, MAINTENANCE, RUN_ID_PARAM, STACK_PARAM, TIMEOUT_PARAM } from '../../lib/runbooks/names.js';
import { scheduledRuns, scheduleKey } from '../../lib/runbooks/registry.js';
import type { DispatchRecord, StateStore } from '../result/state-store.js';
import { commandComment } from '../shared/command-comment.js';
import { InputError } from '../shared/errors.js';

const RunbookName = z.string().regex(/^[a-z][a-z-]{1,39}$/);
const StackName = z.string().regex(/^[a-z][a-z0-9-]{0,39}$/);

/** Run one runbook on one stack now (console, rotation, by hand). */
export const RunEvent = z.strictObject({
  runbook: RunbookName,
  stack: StackName,
  trigger: z.enum(['schedule', 'console', 'manual', 'rotation']).default('manual'),
  runId: z.string().regex(RUN_ID).optional(),
});
export type RunEvent = z.infer<typeof RunEvent>;

/** Everything due on one schedule (sent by EventBridge Scheduler). */
export const ScheduleEvent = z.strictObject({
  trigger: z.literal('schedule'),
  schedule: z.string().min(1).max(300),
  /** <aws.scheduler.scheduled-time>: the same on a retried delivery. */
  scheduledTime: z.iso.datetime({ offset: true }).optional(),
});
export type ScheduleEvent = z.infer<typeof ScheduleEvent>;

/** Run one runbook on every stack it applies to (after a deploy: the preflight). */
export const FleetEvent = z.strictObject({
  trigger: z.literal('deploy'),
  runbook: RunbookName,
  /** Identifies the deploy (a hash of the config), so a redelivered event sends nothing twice. */
  deployId: z.string().regex(/^[0-9a-f]{8,64}$/),
});
export type FleetEvent = z.infer<typeof FleetEvent>;

export const DispatchEvent = z.union([ScheduleEvent, FleetEvent, RunEvent]);
export type DispatchEvent = z.infer<typeof DispatchEvent>;

export interface DispatchContext {
  readonly fleet: Fleet;
  /** Runbook name to SSM document name. */
  readonly documents: Readonly<Record<string, string>>;
  readonly outputBucket: string;
  /** Where dispatches are recorded (the watchdog reads them); undefined records nothing. */
  readonly store?: Pick<StateStore, 'recordDispatch' | 'lastDispatches'>;
  readonly now?: () => Date;
  readonly random?: () => number;
}

export interface DispatchResult {
  readonly runId: string;
  readonly runbook: string;
  readonly stack: string;
  readonly commandIds: string[];
  readonly calls: number;
  /** True when this run had already been sent (a redelivered schedule event). */
  readonly skipped?: boolean;
  /** Why sending failed, when it did; the other runs of a schedule still go out. */
  readonly error?: string;
}

/** SendCommand takes at most 50 instance IDs per call. */
export const MAX_IDS_PER_CALL = 50;
/** Run IDs fit the command comment (36 = an Automation execution ID). */
export const MAX_RUN_ID = 36;

const stamp = (d: Date) => d.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');

/** A fresh run ID: time and a random suffix (21 characters). */
export function newRunId(now: Date, random: () => number): string {
  return `${stamp(now)}-${Math.floor(random() * 36 ** 4).toString(36).padStart(4, '0')}`;
}

/** The run ID of a scheduled run: the same for every delivery of the same schedule time. */
export function scheduledRunId(runbook: string, stack: string, scheduledTime: Date): string {
  const h = createHash('sha256').update(`${runbook}\n${stack}\n${scheduledTime.toISOString()}`).digest('hex').slice(0, 4);
  return `${stamp(scheduledTime)}-${h}`;
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

export function describeTargets(stack: Stack): string {
  return stack.hosts.tag ? `tag ${stack.hosts.tag.key}=${stack.hosts.tag.value}` : `${stack.hosts.instanceIds?.length ?? 0} instance IDs`;
}

export function buildCommands(ctx: Pick<DispatchContext, 'fleet' | 'documents' | 'outputBucket'>, event: Pick<RunEvent, 'runbook' | 'stack'>, runId: string): SendCommandCommandInput[] {
  const stack = findStack(ctx.fleet, event.stack);
  if (!stack) throw new InputError(`unknown stack "${event.stack}"`, [`fleet ${ctx.fleet.fleet} has ${ctx.fleet.stacks.length} stacks, e.g. ${ctx.fleet.stacks.slice(0, 5).map((s) => s.name).join(', ')}`]);
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
    Comment: commandComment(stack.name, event.runbook, runId),
    OutputS3BucketName: ctx.outputBucket,
    OutputS3KeyPrefix: `command-output/${event.runbook}/${stack.name}`,
  }));
}

/** Sends one run; throttling and transient errors are retried by the SSM client (adaptive mode). */
export async function dispatchRun(ssm: Pick<SSMClient, 'send'>, ctx: DispatchContext, event: Pick<RunEvent, 'runbook' | 'stack'>, runId: string): Promise<DispatchResult> {
  const commands = buildCommands(ctx, event, runId);
  const commandIds: string[] = [];
  for (const input of commands) {
    const out = await ssm.send(new SendCommandCommand(input));
    if (out.Command?.CommandId) commandIds.push(out.Command.CommandId);
  }
  const stack = findStack(ctx.fleet, event.stack)!;
  await ctx.store?.recordDispatch(stack.name, event.runbook, { at: (ctx.now ?? (() => new Date()))().getTime(), runId, commandIds, targets: describeTargets(stack) } satisfies DispatchRecord);
  return { runId, runbook: event.runbook, stack: event.stack, commandIds, calls: commands.length };
}

/** Every run due on one schedule; a failing stack does not hold up the others. */
export async function dispatchSchedule(ssm: Pick<SSMClient, 'send'>, ctx: DispatchContext, event: ScheduleEvent): Promise<DispatchResult[]> {
  const runs = scheduledRuns(ctx.fleet).filter((r) => scheduleKey(r.schedule) === event.schedule);
  if (runs.length === 0) throw new InputError(`no runbook of this fleet runs on schedule "${event.schedule}"`, ['the schedule and the deployed config disagree: deploy again']);
  const when = event.scheduledTime ? new Date(event.scheduledTime) : (ctx.now ?? (() => new Date()))();
  const sentBefore = new Map<string, Record<string, DispatchRecord>>();
  const results: DispatchResult[] = [];
  for (const run of runs) {
    const runId = scheduledRunId(run.runbook, run.stack, when);
    if (ctx.store && event.scheduledTime) {
      if (!sentBefore.has(run.stack)) sentBefore.set(run.stack, await ctx.store.lastDispatches(run.stack));
      if (sentBefore.get(run.stack)![run.runbook]?.runId === runId) {
        results.push({ runId, runbook: run.runbook, stack: run.stack, commandIds: [], calls: 0, skipped: true });
        continue;
      }
    }
    try {
      results.push(await dispatchRun(ssm, ctx, run, runId));
    } catch (err) {
      if (err instanceof InputError) throw err;
      results.push({ runId, runbook: run.runbook, stack: run.stack, commandIds: [], calls: 0, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
    }
  }
  return results;
}

/** One runbook on every stack it applies to, with run IDs from the deploy ID. */
export async function dispatchFleet(ssm: Pick<SSMClient, 'send'>, ctx: DispatchContext, event: FleetEvent): Promise<DispatchResult[]> {
  if (!ctx.documents[event.runbook]) throw new InputError(`unknown runbook "${event.runbook}"`, [`known: ${Object.keys(ctx.documents).join(', ')}`]);
  const results: DispatchResult[] = [];
  for (const stack of ctx.fleet.stacks) {
    const runId = `deploy-${event.deployId.slice(0, 12)}-${createHash('sha256').update(stack.name).digest('hex').slice(0, 4)}`;
    if (ctx.store && (await ctx.store.lastDispatches(stack.name))[event.runbook]?.runId === runId) {
      results.push({ runId, runbook: event.runbook, stack: stack.name, commandIds: [], calls: 0, skipped: true });
      continue;
    }
    try {
      results.push(await dispatchRun(ssm, ctx, { runbook: event.runbook, stack: stack.name }, runId));
    } catch (err) {
      if (err instanceof InputError) throw err;
      results.push({ runId, runbook: event.runbook, stack: stack.name, commandIds: [], calls: 0, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
    }
  }
  return results;
}

export async function dispatch(ssm: Pick<SSMClient, 'send'>, ctx: DispatchContext, event: DispatchEvent): Promise<DispatchResult[]> {
  if ('schedule' in event) return dispatchSchedule(ssm, ctx, event);
  if ('deployId' in event) return dispatchFleet(ssm, ctx, event);
  const runId = event.runId ?? newRunId((ctx.now ?? (() => new Date()))(), ctx.random ?? Math.random);
  return [await dispatchRun(ssm, ctx, event, runId)];
}
