/**
 * The result pipeline for one "Command Invocation Status-change" event: read the output,
 * evaluate it, step each finding's alert state, send what the state machine says, and
 * record the run.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { PublishCommandInput, SNSClient } from '@aws-sdk/client-sns';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { Fleet, Stack } from '../../lib/config/schema.js';
import type { HealthResult } from '../../lib/results/health.js';
import { HEALTH_CHECK } from '../../lib/runbooks/names.js';
import { RESTART } from '../../lib/runbooks/names.js';
import { SendCommandCommand } from '@aws-sdk/client-ssm';
import { commandComment } from '../shared/command-comment.js';
import { decideRemedy, needsRestart } from './remediation.js';
import type { Finding } from '../../lib/results/findings.js';
import { isTerminal } from '../../lib/results/invocation-status.js';
import { parseCommandComment } from '../shared/command-comment.js';
import { parseOrThrow } from '../shared/errors.js';
import type { BackoffOptions } from '../shared/retry.js';
import { alertKey, step, type AlertPolicy, type Notice } from './alert-state.js';
import { commandStackParameter, InvocationEvent, readInvocation } from './invocation.js';
import * as z from 'zod';
import { buildAlertGroups, publishAlert, type AlertContext } from './notify.js';
import { findStack } from '../../lib/config/resolve.js';
import type { BackupResult } from '../../lib/results/backup.js';
import { BACKUP } from '../../lib/runbooks/names.js';
import { verifyBackup } from './evaluate-backup.js';
import { evaluateInvocation, parseOutput, type HostOutcome } from './outcome.js';
import { isSilenced, type Silence } from './silences.js';
import type { StateStore, StoredAlert } from './state-store.js';

export interface ResultClients {
  readonly ssm: Pick<SSMClient, 'send'>;
  readonly s3: Pick<S3Client, 'send'>;
  readonly sns: Pick<SNSClient, 'send'>;
}

export interface ResultContext {
  readonly fleet: Fleet;
  readonly documents: Readonly<Record<string, string>>;
  readonly region: string;
  readonly topicArn: string;
  readonly store: StateStore;
  readonly now?: () => number;
  readonly backoff?: BackoffOptions;
  /** Backup archives up to this size are hashed again from S3. @default 512 MiB */
  readonly checksumMaxBytes?: number;
  /** Bucket for the output of commands this function sends itself (automatic restarts). */
  readonly outputBucket?: string;
  /** Console runbook name to Automation document name, linked from alerts. */
  readonly runbooks?: Readonly<Record<string, string>>;
  /** Called after each alert is published (for the AlertsSent metric). */
  readonly onPublished?: (alert: PublishCommandInput) => void;
}

export type ProcessOutcome =
  | { readonly kind: 'ignored'; readonly reason: string }
  | { readonly kind: 'evaluated'; readonly outcome: HostOutcome; readonly notices: Notice[]; readonly alerts: number; readonly backupVerified?: boolean; readonly backup?: BackupStats };

/** What a finished backup run moved, for the BackupBytes and BackupDuration metrics. */
export interface BackupStats {
  /** Bytes of the archives written (compressed). */
  readonly bytes: number;
  readonly durationMs: number | null;
}

const MINUTE = 60_000;

export function alertPolicy(fleet: Fleet): AlertPolicy {
  const a = fleet.alerts;
  return {
    failuresBeforeAlert: { critical: a.critical.failuresBeforeAlert, warning: a.warning.failuresBeforeAlert },
    repeatMs: { critical: a.critical.repeatMinutes * MINUTE, warning: a.warning.repeatMinutes * MINUTE },
    okBeforeResolve: a.okBeforeResolve,
    ...(a.escalation ? { escalation: a.escalation.map((l) => ({ afterMs: l.afterMinutes * MINUTE, severities: l.severities })) } : {}),
  };
}

/** What the message renderer needs from the result context. */
export function alertContext(ctx: ResultContext): AlertContext {
  return {
    fleet: ctx.fleet.fleet, region: ctx.region, topicArn: ctx.topicArn, timezone: ctx.fleet.alerts.timezone, now: ctx.now?.() ?? Date.now(),
    ...(ctx.runbooks ? { runbooks: ctx.runbooks } : {}),
  };
}

export async function processInvocationEvent(clients: ResultClients, ctx: ResultContext, event: unknown): Promise<ProcessOutcome> {
  const { detail } = parseOrThrow(InvocationEvent, event, 'invocation status event');
  const runbook = Object.entries(ctx.documents).find(([, doc]) => doc === detail['document-name'])?.[0];
  if (!runbook) return { kind: 'ignored', reason: `document ${detail['document-name']} is not one of ours` };
  if (!isTerminal(detail.status)) return { kind: 'ignored', reason: `status ${detail.status} is not final` };

  const inv = await readInvocation(clients, detail, ctx.backoff);
  const meta = parseCommandComment(inv.comment);
  const parsed = parseOutput(inv, runbook);
  const stack = meta?.stack ?? parsed.stack ?? (await commandStackParameter(clients.ssm, inv.commandId)) ?? 'unknown';
  const { findings, complete } = evaluateInvocation(inv, runbook, ctx.fleet, stack, parsed);
  const now = ctx.now?.() ?? Date.now();
  let backupVerified: boolean | undefined;
  const stackConfig = findStack(ctx.fleet, stack);
  if (runbook === BACKUP && complete && stackConfig) {
    const checks = await verifyBackup(clients.s3, ctx.store, parsed.result as BackupResult, stackConfig, { checksumMaxBytes: ctx.checksumMaxBytes ?? 512 * 1024 * 1024, now });
    findings.push(...checks);
    backupVerified = checks.length > 0 && checks.every((f) => f.check !== 'backup.verify' || f.severity === 'ok') && findings.every((f) => f.severity !== 'critical');
  }
  const outcome: HostOutcome = {
    runbook, stack, runId: meta?.runId ?? 'manual', instanceId: inv.instanceId, hostname: parsed.hostname,
    commandId: inv.commandId, status: inv.status, findings,
  };

  const stored = await ctx.store.loadAlerts(stack, inv.instanceId);
  if ([...stored.values()].some((a) => a.commandId === inv.commandId)) {
    return { kind: 'ignored', reason: `command ${inv.commandId} on ${inv.instanceId} was already processed` };
  }
  const silences = await ctx.store.activeSilences(now);
  const actions: string[] = [];
  if (runbook === HEALTH_CHECK && complete && stackConfig && stackConfig.services.some((svc) => svc.remediation?.restart)) {
    actions.push(...await remediate(clients, ctx, { stack: stackConfig, host: inv.instanceId, findings, busy: (parsed.result as HealthResult).busy, silences, now, runId: outcome.runId }));
  }
  const policy = alertPolicy(ctx.fleet);
  const open: StoredAlert[] = [];
  const closed: string[] = [];
  const notices: Notice[] = [];
  const seen = new Set<string>();
  const apply = (key: string, finding: Finding) => {
    const silenced = isSilenced(ctx.fleet.alerts.maintenance, silences, { stack, host: inv.instanceId, check: finding.check }, now);
    const { next, notices: sent } = step(stored.get(key)?.state, finding, now, policy, silenced);
    notices.push(...sent);
    if (next.status === 'failing') open.push({ key, state: next, commandId: inv.commandId, finding });
    else if (stored.has(key)) closed.push(key);
  };
  for (const f of findings) {
    const key = alertKey(runbook, f);
    seen.add(key);
    apply(key, f);
  }
  // A complete result reports every check: one that is missing was removed or has recovered
  // (an unreachable host answering again, a service taken out of the config).
  if (complete) {
    for (const [key, a] of stored) {
      if (key.startsWith(`${runbook}#`) && !seen.has(key)) {
        apply(key, { ...a.finding, severity: 'ok', observed: 'no longer failing', message: `${a.finding.check} ${a.finding.target}: no longer reported as failing` });
      }
    }
  }

  // Park the notices until the whole command has finished, so that one finding on many hosts
  // goes out as one message; a host that finishes after that is sent on its own.
  const { findings: _all, ...host } = outcome;
  const entries = notices.map((notice, i) => ({ id: `${inv.instanceId}#${i}`, host, notice }));
  if (entries.length) await ctx.store.addOutbox(inv.commandId, entries);
  await ctx.store.saveAlerts(stack, inv.instanceId, open, closed);
  await ctx.store.recordRun({
    stack, host: inv.instanceId, runbook, runId: outcome.runId, commandId: inv.commandId, status: inv.statusDetails || inv.status, at: now,
    critical: findings.filter((f) => f.severity === 'critical').length, warning: findings.filter((f) => f.severity === 'warning').length, notices: notices.length,
    ...(actions.length ? { actions } : {}),
    ...(backupVerified ? { verified: true } : {}),
  });
  const alerts = entries.length && (await ctx.store.isFlushed(inv.commandId)) ? await flush(clients.sns, ctx, inv.commandId) : 0;
  const backup = runbook === BACKUP && complete ? backupStats(parsed.result as BackupResult) : undefined;
  return { kind: 'evaluated', outcome, notices, alerts, ...(backupVerified !== undefined ? { backupVerified } : {}), ...(backup ? { backup } : {}) };
}

function backupStats(r: BackupResult | undefined): BackupStats | undefined {
  if (!r || !Array.isArray(r.archives)) return undefined;
  return { bytes: r.archives.reduce((n, a) => n + (a.ok && a.bytes ? a.bytes : 0), 0), durationMs: r.durationMs ?? null };
}

/**
 * Restarts what the config allows, within its cap; adds a finding for each action (info) and
 * for each exhausted cap (critical, so it alerts and escalates), and returns what it did.
 */
async function remediate(
  clients: ResultClients,
  ctx: ResultContext,
  run: { stack: Stack; host: string; findings: Finding[]; busy: string | null; silences: Silence[]; now: number; runId: string },
): Promise<string[]> {
  const attempts = await ctx.store.remediations(run.stack.name, run.host);
  const actions: string[] = [];
  for (const svc of run.stack.services.filter((s) => s.remediation?.restart && needsRestart(s, run.findings))) {
    const r = svc.remediation!;
    const silenced = isSilenced(ctx.fleet.alerts.maintenance, run.silences, { stack: run.stack.name, host: run.host, check: 'container.state' }, run.now);
    const remedy = decideRemedy(svc, attempts[svc.name] ?? [], run.now, { busy: run.busy, silenced });
    const cap = `${r.maxRestarts} per ${r.windowMinutes} min`;
    if (remedy.action === 'restart' && ctx.documents[RESTART]) {
      const runId = `remediate-${run.now}`;
      await clients.ssm.send(new SendCommandCommand({
        DocumentName: ctx.documents[RESTART], InstanceIds: [run.host],
        Parameters: { Stack: [run.stack.name], RunId: [runId], Services: [svc.name] },
        Comment: commandComment(run.stack.name, RESTART, runId),
        ...(ctx.outputBucket ? { OutputS3BucketName: ctx.outputBucket, OutputS3KeyPrefix: `command-output/${RESTART}/${run.stack.name}` } : {}),
      }));
      await ctx.store.recordRemediation(run.stack.name, run.host, svc.name, run.now);
      actions.push(`restart ${svc.name} (attempt ${remedy.attempt})`);
      run.findings.push({ check: 'remediation.restart', target: svc.name, severity: 'info', observed: `attempt ${remedy.attempt}`, threshold: cap, message: `restarting ${svc.container} automatically (attempt ${remedy.attempt} of ${r.maxRestarts})` });
    } else if (remedy.action === 'exhausted') {
      actions.push(`not restarting ${svc.name}: cap reached`);
      run.findings.push({ check: 'remediation.exhausted', target: svc.name, severity: 'critical', observed: `${remedy.attempts} restarts`, threshold: cap,
        message: `${svc.container} was restarted ${remedy.attempts} times in ${r.windowMinutes} min and still fails; shipshape stops restarting it: a person has to look` });
    } else if (remedy.action === 'wait' || remedy.action === 'skip') {
      actions.push(`not restarting ${svc.name}: ${remedy.reason}`);
    }
  }
  return actions;
}

export const CommandEvent = z.object({
  source: z.literal('aws.ssm'),
  'detail-type': z.literal('EC2 Command Status-change Notification'),
  detail: z.object({ 'command-id': z.string().regex(/^[0-9a-f-]{36}$/), 'document-name': z.string().min(1).max(200), status: z.string() }),
});

/**
 * Sends what a command's hosts parked, grouped. If sending fails half-way, only the entries of
 * the messages not sent go back for the retry: what went out is not sent again.
 */
export async function flush(sns: ResultClients['sns'], ctx: ResultContext, commandId: string): Promise<number> {
  const claimed = await ctx.store.claimOutbox(commandId);
  const groups = buildAlertGroups(claimed, alertContext(ctx));
  let sent = 0;
  try {
    for (const g of groups) {
      await publishAlert(sns, g.message);
      sent++;
      ctx.onPublished?.(g.message);
    }
  } catch (err) {
    await ctx.store.addOutbox(commandId, groups.slice(sent).flatMap((g) => g.entries));
    throw err;
  }
  return groups.length;
}

/** The whole command finished: send its parked notices, and let late hosts send at once. */
export async function processCommandEvent(clients: Pick<ResultClients, 'sns'>, ctx: ResultContext, event: unknown): Promise<{ kind: 'flushed' | 'ignored'; alerts: number }> {
  const { detail } = parseOrThrow(CommandEvent, event, 'command status event');
  if (!Object.values(ctx.documents).includes(detail['document-name']) || !isTerminal(detail.status)) return { kind: 'ignored', alerts: 0 };
  await ctx.store.markFlushed(detail['command-id']);
  return { kind: 'flushed', alerts: await flush(clients.sns, ctx, detail['command-id']) };
}
