/**
 * The result function's events, each processed exactly once: Powertools idempotency with
 * DynamoDB persistence on the state table (pk/sk) records every event it handled, keyed on
 * - per-host events: command ID + instance ID (+ status),
 * - command events: command ID (+ status),
 * - alarm changes: alarm name + state + time of the change,
 * and a redelivered event gets the first run's answer back without running again: nothing is
 * recorded, verified, counted or sent twice. A run that throws leaves no record, so the retry
 * runs in full. Metrics are emitted inside the idempotent part for the same reason.
 */
import { IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import type { BasePersistenceLayer } from '@aws-lambda-powertools/idempotency/persistence';
import type { PublishCommandInput } from '@aws-sdk/client-sns';
import type { Context as LambdaContext } from 'aws-lambda';
import { parseOrThrow } from '../shared/errors.js';
import { AlarmEvent, alarmMessage } from './alarms.js';
import { publishAlert } from './notify.js';
import { processCommandEvent, processInvocationEvent, type ResultClients, type ResultContext } from './process.js';

/** Metric names and dimensions the result function emits (namespace "shipshape", plus Powertools' `service` dimension). */
export const RESULT_METRICS = {
  /** Per host evaluated, by runbook and stack. */
  HostsEvaluated: ['runbook', 'stack'],
  HostsFailing: ['runbook', 'stack'],
  CriticalFindings: ['runbook', 'stack'],
  WarningFindings: ['runbook', 'stack'],
  /** A backup run whose archives were verified in S3. */
  BackupsVerified: ['runbook', 'stack'],
  /** Compressed bytes written by a complete backup run of one host (unit Bytes). */
  BackupBytes: ['stack'],
  /** Duration of a complete backup run of one host (unit Seconds). */
  BackupDuration: ['stack'],
  /** Every SNS message published, host and command level alike; stack "fleet" for alarms. */
  AlertsSent: ['stack'],
} as const;
export type ResultMetric = keyof typeof RESULT_METRICS;

export type MetricSink = (name: ResultMetric, unit: 'Count' | 'Bytes' | 'Seconds', value: number, dimensions: Record<string, string>) => void;

export interface PipelineDeps {
  readonly clients: ResultClients;
  readonly ctx: ResultContext;
  /** Undefined: no idempotency records (tests of other things). */
  readonly persistence?: BasePersistenceLayer;
  readonly emit: MetricSink;
  /** How long an event is remembered. @default 2 days (EventBridge retries for at most 2 hours) */
  readonly rememberSeconds?: number;
}

export const IDEMPOTENCY_KEYS = {
  invocation: '[detail."command-id", detail."instance-id", detail.status]',
  command: '[detail."command-id", detail.status]',
  alarm: '[detail.alarmName, detail.state.value, detail.state.timestamp]',
} as const;

const stackOf = (m: PublishCommandInput) => m.MessageAttributes?.stack?.StringValue ?? 'fleet';

export function resultPipeline(deps: PipelineDeps) {
  const { clients, emit } = deps;
  /** Counts what one event published, per stack, after it published it. */
  const counting = () => {
    const perStack = new Map<string, number>();
    const ctx: ResultContext = { ...deps.ctx, onPublished: (m) => perStack.set(stackOf(m), (perStack.get(stackOf(m)) ?? 0) + 1) };
    const flush = () => perStack.forEach((n, stack) => emit('AlertsSent', 'Count', n, { stack }));
    return { ctx, flush };
  };

  const invocation = async (event: unknown) => {
    const { ctx, flush } = counting();
    const r = await processInvocationEvent(clients, ctx, event);
    flush();
    if (r.kind === 'ignored') return { kind: r.kind, reason: r.reason };
    const { outcome } = r;
    const counts = { critical: 0, warning: 0 };
    for (const f of outcome.findings) if (f.severity === 'critical' || f.severity === 'warning') counts[f.severity]++;
    const dims = { runbook: outcome.runbook, stack: outcome.stack };
    emit('HostsEvaluated', 'Count', 1, dims);
    emit('HostsFailing', 'Count', counts.critical + counts.warning > 0 ? 1 : 0, dims);
    emit('CriticalFindings', 'Count', counts.critical, dims);
    emit('WarningFindings', 'Count', counts.warning, dims);
    if (r.backupVerified) emit('BackupsVerified', 'Count', 1, dims);
    if (r.backup) {
      emit('BackupBytes', 'Bytes', r.backup.bytes, { stack: outcome.stack });
      if (r.backup.durationMs !== null) emit('BackupDuration', 'Seconds', r.backup.durationMs / 1000, { stack: outcome.stack });
    }
    return {
      kind: r.kind, runbook: outcome.runbook, stack: outcome.stack, runId: outcome.runId, instanceId: outcome.instanceId, status: outcome.status,
      alerts: r.alerts, ...counts, notices: r.notices.map((n) => `${n.kind}:${n.finding.check}`).slice(0, 50),
    };
  };

  const command = async (event: unknown) => {
    const { ctx, flush } = counting();
    const r = await processCommandEvent(clients, ctx, event);
    flush();
    return r;
  };

  const alarm = async (event: unknown) => {
    const e = parseOrThrow(AlarmEvent, event, 'alarm event');
    const m = alarmMessage(e, { fleet: deps.ctx.fleet.fleet, region: deps.ctx.region, topicArn: deps.ctx.topicArn });
    if (m) {
      await publishAlert(clients.sns, m);
      emit('AlertsSent', 'Count', 1, { stack: stackOf(m) });
    }
    return { kind: 'alarm', alarm: e.detail.alarmName, state: e.detail.state.value, alerts: m ? 1 : 0 };
  };

  const configs: IdempotencyConfig[] = [];
  const once = <T>(fn: (event: unknown) => Promise<T>, keyPrefix: keyof typeof IDEMPOTENCY_KEYS): ((event: unknown) => Promise<T>) => {
    if (!deps.persistence) return fn;
    const config = new IdempotencyConfig({ eventKeyJmesPath: IDEMPOTENCY_KEYS[keyPrefix], throwOnNoIdempotencyKey: true, expiresAfterSeconds: deps.rememberSeconds ?? 2 * 86_400 });
    configs.push(config);
    return makeIdempotent(fn, { persistenceStore: deps.persistence, keyPrefix, config }) as (event: unknown) => Promise<T>;
  };
  const handlers = { invocation: once(invocation, 'invocation'), command: once(command, 'command'), alarm: once(alarm, 'alarm') };

  return {
    handlers,
    /**
     * Gives the idempotency records of this invocation an in-progress expiry at its timeout, so
     * that an invocation that timed out does not block its retry until the record expires.
     */
    registerLambdaContext(context: LambdaContext): void {
      for (const c of configs) c.registerLambdaContext(context);
    },
    /** Routes an event to its handler; one without the fields of its key is rejected as bad input, not retried. */
    handle(event: unknown): Promise<unknown> {
      const e = event as { source?: unknown; 'detail-type'?: unknown; detail?: Record<string, unknown> };
      const keyed = typeof e?.detail === 'object' && e.detail !== null;
      if (e?.source === 'aws.cloudwatch') return (keyed && typeof e.detail!.alarmName === 'string' ? handlers.alarm : alarm)(event);
      const hasCommand = keyed && typeof e.detail!['command-id'] === 'string';
      if (e?.['detail-type'] === 'EC2 Command Status-change Notification') return (hasCommand ? handlers.command : command)(event);
      return (hasCommand && typeof e.detail!['instance-id'] === 'string' ? handlers.invocation : invocation)(event);
    },
  };
}
