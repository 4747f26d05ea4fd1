/**
 * Runs one of the fleet's documents on every host of a stack and collects every host's result,
 * for the rotation steps. Built to survive scale and Lambda's 900 s:
 *   - a run is named by its command Comment (`shipshape <stack> <runbook> <runId>`, the runId
 *     derived from the secret version), so a later invocation of the same step finds the
 *     commands it already sent (ListCommands by document and time, every page) and sends only
 *     the missing ones: resuming is idempotent;
 *   - it waits only while the invocation has time left; before it runs out it throws
 *     StepNotFinished, which fails the step, and Secrets Manager retries the rotation, whose
 *     next invocation resumes the wait;
 *   - a command still not final long after SSM's own bounds (delivery timeout + execution
 *     timeout) is cancelled and its unfinished hosts count as failed, so a step always ends;
 *   - every page of ListCommandInvocations is read (50 per page), and a host's output is read
 *     whole from the S3 copy when SSM cut the inline one (24,000 characters).
 */
import type { S3Client } from '@aws-sdk/client-s3';
import {
  CancelCommandCommand, ListCommandsCommand, paginateListCommandInvocations, paginateListCommands, SendCommandCommand, type Command, type CommandFilter, type SendCommandCommandInput, type SSMClient,
} from '@aws-sdk/client-ssm';
import type { Fleet } from '../../lib/config/schema.js';
import { buildCommands } from '../dispatcher/dispatch.js';
import { readInvocation } from '../result/invocation.js';

export interface HostRun {
  readonly instanceId: string;
  /** SSM's status details: Success, Failed, Undeliverable, Execution Timed Out, Cancelled ... */
  readonly status: string;
  readonly stdout: string;
  /** The output came from S3 because SSM cut the inline copy. */
  readonly fromS3: boolean;
}

/** The step is still under way: its progress is in SSM, the next invocation of the step resumes it. */
export class StepNotFinished extends Error {
  override name = 'StepNotFinished';
}

export interface RunClock {
  /** Milliseconds left in this Lambda invocation (context.getRemainingTimeInMillis). */
  remainingMs(): number;
  now(): number;
  sleep(ms: number): Promise<void>;
}

export interface RunClients {
  /** A client instance (the SDK's paginators take nothing else). */
  readonly ssm: SSMClient;
  readonly s3: Pick<S3Client, 'send'>;
}

export interface StackRunOptions {
  readonly fleet: Fleet;
  readonly documents: Record<string, string>;
  readonly outputBucket: string;
  readonly runbook: string;
  readonly stack: string;
  /** ^[A-Za-z0-9][A-Za-z0-9-]{0,35}$, the same for every invocation of the same step. */
  readonly runId: string;
  readonly parameters?: Record<string, string>;
  readonly clock: RunClock;
  /** Stop waiting when less than this is left in the invocation. @default 45 s */
  readonly reserveMs?: number;
  /** Between status polls. @default 10 s */
  readonly pollMs?: number;
  /** Documents whose unfinished secret-operation commands on the same stack must end before this run is sent. @default none */
  readonly exclusiveWith?: readonly string[];
}

/** Commands go on being delivered to hosts this long (waves of MaxConcurrency on a large stack). */
export const ROTATION_DELIVERY_SECONDS = 3600;
/** Past SSM's own bound (delivery + execution timeout) by this much, a command is cancelled. */
export const GIVE_UP_SLACK_SECONDS = 600;
/** How far back a resumed step looks for the commands it sent. */
export const LOOKBACK_MS = 3 * 86_400_000;

const FINAL = new Set(['Success', 'Failed', 'TimedOut', 'Cancelled']);
const FINAL_INVOCATION = new Set(['Success', 'Failed', 'TimedOut', 'Cancelled', 'Undeliverable', 'Terminated', 'DeliveryTimedOut', 'ExecutionTimedOut']);

/** The commands a run consists of (one per target set), as rotation sends them. */
export function rotationCommands(opts: Pick<StackRunOptions, 'fleet' | 'documents' | 'outputBucket' | 'runbook' | 'stack' | 'runId' | 'parameters'>): SendCommandCommandInput[] {
  return buildCommands({ fleet: opts.fleet, documents: opts.documents, outputBucket: opts.outputBucket }, { runbook: opts.runbook, stack: opts.stack }, opts.runId)
    .map((c) => ({
      ...c,
      // One failing host is enough to roll back: stop sending at the first error.
      MaxErrors: '0',
      TimeoutSeconds: Math.max(c.TimeoutSeconds ?? 0, ROTATION_DELIVERY_SECONDS),
      Parameters: { ...c.Parameters, ...Object.fromEntries(Object.entries(opts.parameters ?? {}).map(([k, v]) => [k, [v]])) },
    }));
}

const targetKey = (c: Pick<Command, 'InstanceIds' | 'Targets'>) => JSON.stringify({ ids: [...(c.InstanceIds ?? [])].sort(), targets: (c.Targets ?? []).map((t) => [t.Key, [...(t.Values ?? [])].sort()]) });

/** SSM's largest page of ListCommands and ListCommandInvocations. */
const PAGE = 50;

/** Commands of this document sent since `after` whose comment passes `match`, every page (the SDK's paginator). */
export async function listCommandsOf(ssm: SSMClient, documentName: string, after: Date, match: (comment: string) => boolean): Promise<Command[]> {
  const found: Command[] = [];
  const filters: CommandFilter[] = [{ key: 'DocumentName', value: documentName }, { key: 'InvokedAfter', value: after.toISOString().replace(/\.\d{3}Z$/, 'Z') }];
  for await (const page of paginateListCommands({ client: ssm, pageSize: PAGE }, { Filters: filters })) {
    for (const c of page.Commands ?? []) if (c.CommandId && match(c.Comment ?? '')) found.push(c);
  }
  return found;
}

/** Commands of this document sent with exactly this comment within the look-back. */
export function findCommands(ssm: SSMClient, documentName: string, comment: string, after: Date): Promise<Command[]> {
  return listCommandsOf(ssm, documentName, after, (c) => c === comment);
}

/** runIds of the host runs the rotation function sends (lambdas/rotation/rotate.ts versionRunId). */
export const ROTATION_RUN = /^(set|tst|chk|rbk|grc|adp|abn|rlb|rhc|rlc)-[A-Za-z0-9]{1,32}$/;

/**
 * Another secret operation's command on the same stack that has not finished: two of them at
 * once would write the same env file and recreate the same services concurrently (rotate-all).
 */
async function busyWith(ssm: SSMClient, documents: readonly string[], stack: string, own: string, after: Date): Promise<Command | undefined> {
  for (const doc of documents) {
    // Runs of the same secret version (set-/rbk-<version>: a step and its rollback) never wait for each other.
    const ownKey = own.split(' ')[3]?.slice(4);
    const open = await listCommandsOf(ssm, doc, after, (c) => {
      const [tag, st, , runId] = c.split(' ');
      return tag === 'shipshape' && st === stack && ROTATION_RUN.test(runId ?? '') && runId!.slice(4) !== ownKey;
    });
    const running = open.find((c) => !FINAL.has(c.Status ?? '') && c.Status !== 'Cancelling');
    if (running) return running;
  }
  return undefined;
}

/** Every invocation of a command, every page (the SDK's paginator, pages of at most 50). */
export async function listInvocations(ssm: SSMClient, commandId: string): Promise<{ instanceId: string; status: string }[]> {
  const out: { instanceId: string; status: string }[] = [];
  for await (const page of paginateListCommandInvocations({ client: ssm, pageSize: PAGE }, { CommandId: commandId })) {
    for (const inv of page.CommandInvocations ?? []) if (inv.InstanceId) out.push({ instanceId: inv.InstanceId, status: inv.StatusDetails ?? inv.Status ?? 'Unknown' });
  }
  return out;
}

async function inBatches<T, R>(items: readonly T[], size: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size) out.push(...await Promise.all(items.slice(i, i + size).map(fn)));
  return out;
}

interface Sent { readonly id: string; readonly requestedAt: number; readonly giveUpAt: number }

/**
 * The run's outcome on every host, sending what was not sent yet and waiting while there is
 * time. Throws StepNotFinished when the invocation must end first (nothing is lost: call again).
 */
export async function runOnStack(clients: RunClients, opts: StackRunOptions): Promise<HostRun[]> {
  const { clock } = opts;
  const reserve = opts.reserveMs ?? 45_000;
  const poll = opts.pollMs ?? 10_000;
  const wanted = rotationCommands(opts);
  const documentName = wanted[0]!.DocumentName!;
  const comment = wanted[0]!.Comment!;
  const existing = await findCommands(clients.ssm, documentName, comment, new Date(clock.now() - LOOKBACK_MS));
  // One secret operation at a time per stack: wait for another one's command before sending ours.
  if (opts.exclusiveWith?.length && wanted.some((input) => !existing.some((c) => targetKey(c) === targetKey(input)))) {
    for (;;) {
      const other = await busyWith(clients.ssm, opts.exclusiveWith, opts.stack, comment, new Date(clock.now() - 86_400_000));
      if (!other) break;
      if (clock.remainingMs() - poll < reserve) throw new StepNotFinished(`${opts.runbook} on stack ${opts.stack}: waiting for ${other.Comment} (command ${other.CommandId}) to end first; the next attempt goes on waiting`);
      await clock.sleep(poll);
    }
  }
  const bound = (input: SendCommandCommandInput) => ((input.TimeoutSeconds ?? ROTATION_DELIVERY_SECONDS) + Number(input.Parameters?.ExecutionTimeout?.[0] ?? 900) + GIVE_UP_SLACK_SECONDS) * 1000;
  const sent: Sent[] = [];
  for (const input of wanted) {
    const same = existing.find((c) => targetKey(c) === targetKey(input));
    if (same) {
      const at = same.RequestedDateTime?.getTime() ?? clock.now();
      sent.push({ id: same.CommandId!, requestedAt: at, giveUpAt: at + bound(input) });
      continue;
    }
    if (clock.remainingMs() < reserve) throw new StepNotFinished(`${opts.runbook} on stack ${opts.stack}: ${sent.length} of ${wanted.length} commands sent before this invocation ran out of time; the next attempt sends the rest`);
    const out = await clients.ssm.send(new SendCommandCommand(input));
    const at = clock.now();
    sent.push({ id: out.Command!.CommandId!, requestedAt: at, giveUpAt: at + bound(input) });
  }

  const gaveUp = new Set<string>();
  for (;;) {
    const statuses = await Promise.all(sent.map(async (s) => {
      if (gaveUp.has(s.id)) return 'Cancelled';
      const listed = await clients.ssm.send(new ListCommandsCommand({ CommandId: s.id }));
      return listed.Commands?.[0]?.Status ?? 'Pending';
    }));
    const open = sent.filter((_, i) => !FINAL.has(statuses[i]!));
    if (open.length === 0) break;
    // SSM ends every command by delivery + execution timeout; one that outlives that is cancelled.
    const overdue = open.filter((s) => clock.now() >= s.giveUpAt);
    for (const s of overdue) {
      try {
        await clients.ssm.send(new CancelCommandCommand({ CommandId: s.id }));
      } catch {
        // Already ended, or SSM refuses: its hosts count as failed either way.
      }
      gaveUp.add(s.id);
    }
    if (overdue.length === open.length) break;
    if (clock.remainingMs() - poll < reserve) {
      throw new StepNotFinished(`${opts.runbook} on stack ${opts.stack} (${comment}): ${sent.length - open.length} of ${sent.length} commands finished; waiting resumes when Secrets Manager retries the rotation`);
    }
    await clock.sleep(poll);
  }

  const runs: HostRun[] = [];
  for (const s of sent) {
    const invocations = await listInvocations(clients.ssm, s.id);
    const read = await inBatches(invocations, 10, async (inv): Promise<HostRun> => {
      if (!FINAL_INVOCATION.has(inv.status) && !FINAL.has(inv.status)) {
        return { instanceId: inv.instanceId, status: gaveUp.has(s.id) ? `did not finish within ${Math.round((s.giveUpAt - s.requestedAt) / 1000)} s (cancelled)` : inv.status, stdout: '', fromS3: false };
      }
      const r = await readInvocation(clients, { 'command-id': s.id, 'instance-id': inv.instanceId, 'document-name': documentName, status: inv.status });
      return { instanceId: inv.instanceId, status: r.statusDetails || r.status, stdout: r.stdout, fromS3: r.fromS3 };
    });
    runs.push(...read);
    if (clock.remainingMs() < reserve / 3) throw new StepNotFinished(`${opts.runbook} on stack ${opts.stack}: ran out of time reading ${runs.length} host results; the next attempt reads them again`);
  }
  if (runs.length === 0) throw new Error(`no host of stack ${opts.stack} answered ${opts.runbook}; refusing to go on with a secret nobody uses`);
  return runs;
}
