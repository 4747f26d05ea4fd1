/**
 * One watchdog run: read what the store last saw (one Query each for last-seen, dispatches and
 * open watchdog alerts per stack, one for the watch marks of the fleet), ask SSM only about
 * dispatches that got no result, and Secrets Manager about secret ages once an hour; judge
 * (watch.ts); step every finding through the alert state machine and send what it says, as
 * for host findings.
 *
 * All watchdog alert state of a stack lives under the pseudo host STACK_HOST ("*"), so the run
 * costs one Query per stack whatever the number of hosts; per-host findings carry the host in
 * their key and in the message.
 */
import { DescribeSecretCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SNSClient } from '@aws-sdk/client-sns';
import { ListCommandsCommand, type SSMClient } from '@aws-sdk/client-ssm';
import type { Fleet } from '../../lib/config/schema.js';
import type { Finding } from '../../lib/results/findings.js';
import { secretId } from '../../lib/runbooks/names.js';
import { step, type AlertPolicy } from '../result/alert-state.js';
import { buildAlerts, publishAlert, type AlertContext } from '../result/notify.js';
import { alertPolicy } from '../result/process.js';
import { isSilenced } from '../result/silences.js';
import type { OutboxEntry, StateStore, StoredAlert } from '../result/state-store.js';
import {
  expectedRuns, markKey, STACK_HOST, watch, watchKey, WATCHDOG, WATCHDOG_PERIOD_MS,
  type Observations, type SecretObservation, type StackObservations, type WatchFinding, type WatchOptions,
} from './watch.js';

export interface WatchdogClients {
  readonly ssm: Pick<SSMClient, 'send'>;
  readonly sm: Pick<SecretsManagerClient, 'send'>;
  readonly sns: Pick<SNSClient, 'send'>;
}

export type WatchdogStore = Pick<StateStore, 'loadAlerts' | 'saveAlerts' | 'activeSilences' | 'lastSeen' | 'lastDispatches' | 'watchMarks' | 'setWatchMarks'>;

export interface WatchdogContext {
  readonly fleet: Fleet;
  readonly store: WatchdogStore;
  readonly topicArn: string;
  readonly region: string;
  /** Console runbook name to Automation document name, linked from alerts. */
  readonly runbooks?: Readonly<Record<string, string>>;
  readonly now?: () => number;
  /** Read secret ages this run. @default only in the first watchdog period of each UTC hour */
  readonly checkSecrets?: boolean;
  /** Stacks read at once. @default 8 */
  readonly concurrency?: number;
  /** ListCommands calls at most per run (only dispatches without any result need one). @default 100 */
  readonly maxListCommands?: number;
  readonly watch?: WatchOptions;
}

export interface WatchdogReport {
  readonly stacks: number;
  /** Failing findings this run. */
  readonly failing: number;
  readonly notices: number;
  readonly alerts: number;
  /** Alerts published per stack, for the AlertsSent metric the dashboard graphs by stack. */
  readonly alertsByStack: Record<string, number>;
  readonly listCommands: number;
  /** Per secret read this run: "<stack>/<name>" and its age. */
  readonly secretAges: { secret: string; ageDays: number }[];
  readonly errors: string[];
}

/** Runs `fn` over `items`, at most `limit` at a time. */
async function pool<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Watchdog findings alert on the first failing evaluation: the rules already wait for the run's window. */
function watchdogPolicy(fleet: Fleet): AlertPolicy {
  const base = alertPolicy(fleet);
  return { ...base, failuresBeforeAlert: { critical: 1, warning: 1 } };
}

const stamp = (ms: number) => new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');

export async function runWatchdog(clients: WatchdogClients, ctx: WatchdogContext): Promise<WatchdogReport> {
  const now = ctx.now?.() ?? Date.now();
  const { fleet, store } = ctx;
  const errors: string[] = [];

  // Since when each scheduled runbook is expected: marks appear the first time a schedule is seen enabled.
  const marks = await store.watchMarks();
  const expected = new Set(fleet.stacks.flatMap((s) => expectedRuns(fleet, s).map((e) => markKey(s.name, e.runbook))));
  const added = Object.fromEntries([...expected].filter((k) => marks[k] === undefined).map((k) => [k, now]));
  const removed = Object.keys(marks).filter((k) => !expected.has(k));
  if (Object.keys(added).length || removed.length) await store.setWatchMarks(added, removed);
  const liveMarks = Object.fromEntries([...expected].map((k) => [k, marks[k] ?? now]));

  // One Query each per stack.
  const read = await pool(fleet.stacks, ctx.concurrency ?? 8, async (stack) => {
    const [seen, dispatches, alerts] = await Promise.all([store.lastSeen(stack.name), store.lastDispatches(stack.name), store.loadAlerts(stack.name, STACK_HOST)]);
    return { stack, seen, dispatches, alerts };
  });

  // SSM only for dispatches whose window passed without any result: did they target anyone?
  const lookups: string[] = [];
  for (const { stack, seen, dispatches } of read) {
    for (const e of expectedRuns(fleet, stack)) {
      const d = dispatches[e.runbook];
      if (!d || d.at + e.windowMs > now) continue;
      if (seen.some((s) => s.runbook === e.runbook && s.at >= d.at)) continue;
      lookups.push(...d.commandIds);
    }
  }
  const limit = ctx.maxListCommands ?? 100;
  if (lookups.length > limit) errors.push(`${lookups.length - limit} dispatches without results left for the next run (at most ${limit} ListCommands per run)`);
  const targetCounts: Record<string, number> = {};
  await pool(lookups.slice(0, limit), 4, async (id) => {
    try {
      const r = await clients.ssm.send(new ListCommandsCommand({ CommandId: id }));
      const count = r.Commands?.[0]?.TargetCount;
      if (count !== undefined) targetCounts[id] = count;
    } catch (err) {
      errors.push(`ListCommands ${id}: ${(err as Error).message}`);
    }
  });

  // Secret ages, hourly: DescribeSecret per configured secret.
  const checkSecrets = ctx.checkSecrets ?? new Date(now).getUTCMinutes() * 60_000 < WATCHDOG_PERIOD_MS;
  let secrets: SecretObservation[] | undefined;
  if (checkSecrets) {
    const all = fleet.stacks.flatMap((stack) => stack.secrets.map((secret) => ({ stack, secret })));
    secrets = await pool(all, 4, async ({ stack, secret }) => {
      try {
        const d = await clients.sm.send(new DescribeSecretCommand({ SecretId: secretId(fleet.fleet, stack.name, secret) }));
        const changed = d.LastRotatedDate ?? d.CreatedDate;
        if (!changed) throw new Error('Secrets Manager returned neither LastRotatedDate nor CreatedDate');
        return { stack: stack.name, name: secret.name, changedAt: changed.getTime() };
      } catch (err) {
        errors.push(`DescribeSecret ${stack.name}/${secret.name}: ${(err as Error).message}`);
        return { stack: stack.name, name: secret.name, changedAt: undefined };
      }
    });
  }

  const observations: Observations = {
    marks: liveMarks,
    stacks: Object.fromEntries(read.map(({ stack, seen, dispatches, alerts }): [string, StackObservations] => [
      stack.name, { seen, dispatches, targetCounts, open: [...alerts.keys()] },
    ])),
    ...(secrets ? { secrets } : {}),
  };
  const findings = watch(fleet, observations, now, ctx.watch);

  // The alert pipeline, as for host findings.
  const policy = watchdogPolicy(fleet);
  const silences = await store.activeSilences(now);
  const alertCtx: AlertContext = {
    fleet: fleet.fleet, region: ctx.region, topicArn: ctx.topicArn, timezone: fleet.alerts.timezone, now,
    ...(ctx.runbooks ? { runbooks: ctx.runbooks } : {}),
  };
  const byStack = new Map<string, WatchFinding[]>();
  for (const f of findings) byStack.set(f.stack, [...(byStack.get(f.stack) ?? []), f]);
  let notices = 0;
  let alerts = 0;
  const alertsByStack: Record<string, number> = {};
  const runId = `watchdog-${stamp(now)}`;
  for (const { stack, dispatches, alerts: stored } of read) {
    const open: StoredAlert[] = [];
    const closed: string[] = [];
    const entries: OutboxEntry[] = [];
    for (const f of byStack.get(stack.name) ?? []) {
      const key = watchKey(f);
      const prev = stored.get(key);
      if (f.severity === 'ok' && !prev) continue;
      const { stack: _s, host, runbook, ...finding } = f;
      const silenced = isSilenced(fleet.alerts.maintenance, silences, { stack: stack.name, host, check: f.check }, now);
      const { next, notices: sent } = step(prev?.state, finding as Finding, now, policy, silenced);
      const commandId = dispatches[runbook]?.commandIds[0] ?? WATCHDOG;
      if (next.status === 'failing') open.push({ key, state: next, commandId, finding: finding as Finding });
      else if (prev) closed.push(key);
      sent.forEach((notice, i) => entries.push({
        id: `${key}#${i}`,
        host: { runbook: WATCHDOG, stack: stack.name, runId, instanceId: host, hostname: host === STACK_HOST ? 'all hosts' : undefined, commandId, status: 'watchdog' },
        notice,
      }));
    }
    try {
      for (const m of buildAlerts(entries, alertCtx)) {
        await publishAlert(clients.sns, m);
        alerts++;
        alertsByStack[stack.name] = (alertsByStack[stack.name] ?? 0) + 1;
      }
      if (open.length || closed.length) await store.saveAlerts(stack.name, STACK_HOST, open, closed);
      notices += entries.length;
    } catch (err) {
      // State is not saved, so the next run sends again.
      errors.push(`stack ${stack.name}: ${(err as Error).message}`);
    }
  }

  return {
    stacks: fleet.stacks.length,
    failing: findings.filter((f) => f.severity !== 'ok').length,
    notices, alerts, alertsByStack, listCommands: Math.min(lookups.length, limit),
    secretAges: (secrets ?? []).flatMap((s) => (s.changedAt === undefined ? [] : [{ secret: `${s.stack}/${s.name}`, ageDays: Math.max(0, Math.floor((now - s.changedAt) / 86_400_000 * 10) / 10) }])),
    errors,
  };
}
