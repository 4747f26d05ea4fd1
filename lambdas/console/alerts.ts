/**
 * Console requests about open alerts:
 * - acknowledge: by fingerprint (the "Alert ID" of a message) or by stack/host/check, stops
 *   reminders and escalation until the alert resolves or N hours pass; recorded in the run
 *   history of its stack.
 * - send-test-alert: one message of each severity, and one per escalation level, so every
 *   receiver (email, SMS, chat, pager) shows it got through after a deploy.
 */
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import * as z from 'zod';
import { SILENCE_CHECK, SILENCE_HOST, SILENCE_HOURS, SILENCE_REASON } from '../../lib/config/patterns.js';
import type { Fleet } from '../../lib/config/schema.js';
import { acknowledge, type AlertState } from '../result/alert-state.js';
import { fingerprint, localTime } from '../result/notify.js';
import { checkMatches } from '../result/silences.js';
import type { StateStore } from '../result/state-store.js';
import { InputError, parseOrThrow } from '../shared/errors.js';
import { clip, snsMessage, SUBJECT_LIMIT } from '../shared/sns-message.js';

export const FINGERPRINT = /^(-|ss-[0-9a-f]{24})$/;

export const AcknowledgeRequest = z.strictObject({
  action: z.literal('acknowledge'),
  /** An "Alert ID" from a message, or "-" to choose by stack/host/check. */
  alert: z.string().regex(FINGERPRINT, { error: 'must be an alert ID such as ss-0123456789abcdef01234567, or - to choose by stack, host and check' }),
  stack: z.string(),
  host: z.string().regex(SILENCE_HOST),
  check: z.string().regex(SILENCE_CHECK),
  /** "0": the fleet's alerts.acknowledgeHours. */
  hours: z.string().regex(/^(0|[1-9]|[1-9][0-9]|1[0-5][0-9]|16[0-8])$/).transform(Number),
  reason: z.string().regex(SILENCE_REASON),
  /** Who, for the history: the Automation execution, or a name. */
  by: z.string().regex(/^[A-Za-z0-9 .:@_\/+=,-]{1,200}$/).optional(),
});

export interface Acknowledged {
  readonly stack: string;
  readonly host: string;
  readonly runbook: string;
  readonly check: string;
  readonly target: string;
  readonly fingerprint: string;
  readonly until: string;
}

/** Hosts of a stack that have alert state: the ones the history has seen. */
async function hostsOf(store: StateStore, stack: string): Promise<string[]> {
  return [...new Set((await store.lastSeen(stack)).map((s) => s.host))];
}

export async function acknowledgeAlerts(store: StateStore, fleet: Fleet, event: unknown, now: number): Promise<Acknowledged[]> {
  const req = parseOrThrow(AcknowledgeRequest, event, 'acknowledge request');
  if (req.alert === '-' && req.stack === '*') throw new InputError('choose a stack (or give the alert ID from the message)');
  if (req.stack !== '*' && !fleet.stacks.some((s) => s.name === req.stack)) throw new InputError(`unknown stack "${req.stack}"`);
  const hours = req.hours || fleet.alerts.acknowledgeHours;
  const until = now + hours * 3_600_000;
  const by = req.by ?? 'console';
  const stacks = req.stack === '*' ? fleet.stacks.map((s) => s.name) : [req.stack];
  const done: Acknowledged[] = [];
  for (const stack of stacks) {
    const hosts = req.host === '*' ? await hostsOf(store, stack) : [req.host];
    for (const host of hosts) {
      const alerts = await store.loadAlerts(stack, host);
      const updated = [];
      for (const a of alerts.values()) {
        if (a.state.status !== 'failing') continue;
        const runbook = a.key.split('#')[0]!;
        const fp = fingerprint({ fleet: fleet.fleet, stack, host, runbook, check: a.finding.check, target: a.finding.target });
        const match = req.alert !== '-' ? fp === req.alert : req.check === '*' || checkMatches(req.check, a.finding.check);
        if (!match) continue;
        const state: AlertState = acknowledge(a.state, until, by);
        updated.push({ ...a, state });
        done.push({ stack, host, runbook, check: a.finding.check, target: a.finding.target, fingerprint: fp, until: new Date(until).toISOString() });
      }
      if (!updated.length) continue;
      await store.saveAlerts(stack, host, updated, []);
      await store.recordRun({
        stack, host, runbook: 'acknowledge', runId: by.slice(0, 64), commandId: '-', status: 'Acknowledged', at: now, critical: 0, warning: 0, notices: 0,
        actions: updated.map((a) => `acknowledged ${a.finding.check} ${a.finding.target} until ${new Date(until).toISOString()} by ${by}: ${req.reason}`),
      });
    }
  }
  if (!done.length) {
    throw new InputError(req.alert !== '-' ? `no open alert has the ID ${req.alert} (resolved already, or another fleet's?)` : `no open alert matches stack ${req.stack}, host ${req.host}, check ${req.check}`);
  }
  return done;
}

export const TestAlertRequest = z.strictObject({ action: z.literal('send-test-alert'), by: z.string().regex(/^[A-Za-z0-9 .:@_\/+=,-]{1,200}$/).optional() });

export interface TestAlertContext {
  readonly fleet: Fleet;
  readonly region: string;
  readonly topicArn: string;
  /** The self-monitoring alarms topic, which gets one test too. @default - none */
  readonly alarmTopicArn?: string;
}

/** One test message per severity and per escalation level; returns what was sent. */
export async function sendTestAlerts(sns: Pick<SNSClient, 'send'>, ctx: TestAlertContext, event: unknown, now: number): Promise<string[]> {
  const req = parseOrThrow(TestAlertRequest, event, 'send-test-alert request');
  const f = ctx.fleet;
  const when = localTime(now, f.alerts.timezone);
  const kinds: { severity: string; level?: number }[] = [
    { severity: 'critical' }, { severity: 'warning' }, { severity: 'info' },
    ...(f.alerts.escalation ?? []).map((_l, i) => ({ severity: 'escalation', level: i + 1 })),
  ];
  const sent: string[] = [];
  for (const k of kinds) {
    const label = k.level ? `ESCALATED L${k.level}` : k.severity.toUpperCase();
    const subject = clip(`[TEST ${label}] ${f.fleet}: shipshape test alert, nothing is wrong`, SUBJECT_LIMIT);
    const summary = `A test of the ${label.toLowerCase()} alert path of fleet ${f.fleet}, sent ${when}${req.by ? ` by ${req.by}` : ''}. If you read this, alerts of this kind reach you. Nothing is wrong.`;
    const fp = `ss-test-${k.severity}${k.level ? `-${k.level}` : ''}-${now}`;
    const json = { version: 2, kind: 'test', severity: k.severity, ...(k.level ? { level: k.level } : {}), fleet: f.fleet, subject, summary, fingerprint: fp, findings: [], links: [], actions: [] };
    await sns.send(new PublishCommand(snsMessage({
      topicArn: ctx.topicArn, subject, text: `${summary}\n\nAlert ID: ${fp}`, json, sms: clip(`TEST ${label} ${f.fleet}: shipshape test alert, nothing is wrong`, 160),
      attributes: { severity: k.severity, kind: 'test', fleet: f.fleet, ...(k.level ? { level: String(k.level) } : {}) },
    })));
    sent.push(k.level ? `escalation level ${k.level}` : k.severity);
  }
  if (ctx.alarmTopicArn) {
    const subject = `[TEST] ${f.fleet}: shipshape alarms topic test, nothing is wrong`;
    const body = `A test of the path the fleet's own alarms take (straight from CloudWatch), sent ${when}. Nothing is wrong.`;
    await sns.send(new PublishCommand(snsMessage({ topicArn: ctx.alarmTopicArn, subject, text: body, json: { version: 2, kind: 'test', severity: 'critical', fleet: f.fleet, subject, summary: body, fingerprint: `ss-test-alarms-${now}`, findings: [] }, attributes: { kind: 'test' } })));
    sent.push('alarms topic');
  }
  return sent;
}
