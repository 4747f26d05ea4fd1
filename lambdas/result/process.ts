/**
 * The result pipeline for one "Command Invocation Status-change" event:
 * read the output, evaluate it, alert on failing hosts, record metrics.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { SNSClient } from '@aws-sdk/client-sns';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { Fleet } from '../../lib/config/schema.js';
import { parseCommandComment } from '../shared/command-comment.js';
import { parseOrThrow } from '../shared/errors.js';
import type { BackoffOptions } from '../shared/retry.js';
import { isTerminal } from '../../lib/results/invocation-status.js';
import { commandStackParameter, InvocationEvent, readInvocation } from './invocation.js';
import { buildAlerts, publishAlert } from './notify.js';
import { evaluateInvocation, parseOutput, type HostOutcome } from './outcome.js';

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
  readonly backoff?: BackoffOptions;
}

export type ProcessOutcome =
  | { readonly kind: 'ignored'; readonly reason: string }
  | { readonly kind: 'evaluated'; readonly outcome: HostOutcome; readonly alerts: number };

export async function processInvocationEvent(clients: ResultClients, ctx: ResultContext, event: unknown): Promise<ProcessOutcome> {
  const { detail } = parseOrThrow(InvocationEvent, event, 'invocation status event');
  const runbook = Object.entries(ctx.documents).find(([, doc]) => doc === detail['document-name'])?.[0];
  if (!runbook) return { kind: 'ignored', reason: `document ${detail['document-name']} is not one of ours` };
  if (!isTerminal(detail.status)) return { kind: 'ignored', reason: `status ${detail.status} is not final` };

  const inv = await readInvocation(clients, detail, ctx.backoff);
  const meta = parseCommandComment(inv.comment);
  const parsed = parseOutput(inv, runbook);
  const stack = meta?.stack ?? parsed.stack ?? (await commandStackParameter(clients.ssm, inv.commandId)) ?? 'unknown';
  const findings = evaluateInvocation(inv, runbook, ctx.fleet, stack, parsed);
  const outcome: HostOutcome = {
    runbook, stack, runId: meta?.runId ?? 'manual', instanceId: inv.instanceId, hostname: parsed.hostname,
    commandId: inv.commandId, status: inv.status, findings,
  };
  const alerts = buildAlerts(outcome, { fleet: ctx.fleet.fleet, region: ctx.region, topicArn: ctx.topicArn });
  for (const alert of alerts) await publishAlert(clients.sns, alert);
  return { kind: 'evaluated', outcome, alerts: alerts.length };
}
