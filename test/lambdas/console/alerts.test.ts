import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { acknowledgeAlerts, sendTestAlerts } from '../../../lambdas/console/alerts.js';
import { OK_STATE, step, type AlertPolicy, type AlertState } from '../../../lambdas/result/alert-state.js';
import { fingerprint } from '../../../lambdas/result/notify.js';
import { InputError } from '../../../lambdas/shared/errors.js';
import { demoFleet } from '../../support/fleets.js';
import { MemoryStateStore } from '../../support/memory-store.js';

const MIN = 60_000;
const now = Date.parse('2026-11-22T10:00:00Z');
const fleet = demoFleet((f) => {
  f.alerts!.escalation = [{ afterMinutes: 15, recipients: [{ email: 'sysadmin@example.com' }] }, { afterMinutes: 60, recipients: [{ email: 'eng@example.com' }] }];
  f.alerts!.timezone = 'Europe/Berlin';
});
const finding = (check: string, target: string) => ({ check, target, severity: 'critical' as const, observed: 'x', threshold: 'y', message: 'm' });
const failing: AlertState = { ...OK_STATE, status: 'failing', severity: 'critical', since: now - 10 * MIN, consecutiveFailures: 2, runs: 2, notifiedAt: now - 10 * MIN, notifiedSeverity: 'critical', announced: true };
const HOST = 'i-0123456789abcdef0';

async function storeWithAlerts(): Promise<MemoryStateStore> {
  const store = new MemoryStateStore();
  await store.recordRun({ stack: 'web', host: HOST, runbook: 'health-check', runId: 'r', commandId: 'c', status: 'Success', at: now - MIN, critical: 2, warning: 0, notices: 2 });
  await store.saveAlerts('web', HOST, [
    { key: 'health-check#container.state#api', state: failing, commandId: 'c', finding: finding('container.state', 'api') },
    { key: 'health-check#host.disk#/', state: failing, commandId: 'c', finding: finding('host.disk', '/') },
  ], []);
  return store;
}
const request = (over: Record<string, unknown> = {}) => ({ action: 'acknowledge', alert: '-', stack: 'web', host: '*', check: 'container.*', hours: '0', reason: 'working on it', by: 'ana', ...over });

describe('acknowledge from the console', () => {
  it('acknowledges by the alert ID in the message, for the fleet\'s default hours, and records it in the history', async () => {
    // Prepare
    const store = await storeWithAlerts();
    const id = fingerprint({ fleet: 'demo', stack: 'web', host: HOST, runbook: 'health-check', check: 'container.state', target: 'api' });
    // Act
    const done = await acknowledgeAlerts(store, fleet, request({ alert: id, stack: '*', check: '*' }), now);
    // Assess
    expect(done.map((d) => [d.check, d.fingerprint, d.until])).toEqual([['container.state', id, '2026-11-23T10:00:00.000Z']]);
    const saved = (await store.loadAlerts('web', HOST)).get('health-check#container.state#api')!;
    expect(saved.state).toMatchObject({ acknowledgedUntil: now + 24 * 60 * MIN, acknowledgedBy: 'ana' });
    expect((await store.loadAlerts('web', HOST)).get('health-check#host.disk#/')!.state.acknowledgedUntil).toBeUndefined();
    expect(store.runs.at(-1)).toMatchObject({ runbook: 'acknowledge', status: 'Acknowledged', actions: ['acknowledged container.state api until 2026-11-23T10:00:00.000Z by ana: working on it'] });
  });

  it('acknowledges by stack and check for N hours, and then the result pipeline sends no reminder or escalation', async () => {
    // Prepare
    const store = await storeWithAlerts();
    const policy: AlertPolicy = { failuresBeforeAlert: { critical: 1, warning: 2 }, repeatMs: { critical: 30 * MIN, warning: 60 * MIN }, okBeforeResolve: 1, escalation: [{ afterMs: 15 * MIN, severities: ['critical'] }] };
    // Act
    await acknowledgeAlerts(store, fleet, request({ hours: '4' }), now);
    const state = (await store.loadAlerts('web', HOST)).get('health-check#container.state#api')!.state;
    const during = step(state, finding('container.state', 'api'), now + 2 * 60 * MIN, policy, false);
    const after = step(during.next, finding('container.state', 'api'), now + 5 * 60 * MIN, policy, false);
    // Assess
    expect(during.notices).toEqual([]);
    expect(after.notices.map((n) => n.kind)).toEqual(['repeat', 'escalation']);
  });

  it.each([
    ['an alert ID nobody has', { alert: 'ss-000000000000000000000000', check: '*' }, /no open alert has the ID/],
    ['a check with no open alert', { check: 'probe.*' }, /no open alert matches/],
    ['an unknown stack', { stack: 'nope' }, /unknown stack/],
    ['no stack and no alert ID', { stack: '*' }, /choose a stack/],
    ['a malformed alert ID', { alert: 'ss-xyz' }, /alert ID/],
    ['more than a week', { hours: '169' }, /hours/],
  ])('fails when given %s, and changes nothing', async (_what, over, message) => {
    // Prepare
    const store = await storeWithAlerts();
    // Act / Assess
    await expect(acknowledgeAlerts(store, fleet, request(over), now)).rejects.toThrow(InputError);
    await expect(acknowledgeAlerts(store, fleet, request(over), now)).rejects.toThrow(message);
    expect([...(await store.loadAlerts('web', HOST)).values()].every((a) => a.state.acknowledgedUntil === undefined)).toBe(true);
  });
});

describe('send-test-alert', () => {
  const sns = mockClient(SNSClient);
  beforeEach(() => {
    sns.reset();
    sns.on(PublishCommand).resolves({ MessageId: 'm' });
  });

  it('sends one message of each severity and one per escalation level, and one on the alarms topic', async () => {
    // Act
    const sent = await sendTestAlerts(new SNSClient({}), { fleet, region: 'eu-central-1', topicArn: 'arn:aws:sns:eu-central-1:111122223333:alerts', alarmTopicArn: 'arn:aws:sns:eu-central-1:111122223333:alarms' }, { action: 'send-test-alert', by: 'ana' }, now);
    // Assess
    expect(sent).toEqual(['critical', 'warning', 'info', 'escalation level 1', 'escalation level 2', 'alarms topic']);
    const calls = sns.commandCalls(PublishCommand).map((c) => c.args[0].input);
    expect(calls.map((c) => [c.MessageAttributes?.severity?.StringValue, c.MessageAttributes?.level?.StringValue])).toEqual([
      ['critical', undefined], ['warning', undefined], ['info', undefined], ['escalation', '1'], ['escalation', '2'], [undefined, undefined],
    ]);
    expect(calls[0]!.Subject).toBe('[TEST CRITICAL] demo: shipshape test alert, nothing is wrong');
    expect(JSON.parse(calls[3]!.Message!).email).toContain('sent 2026-11-22 11:00 CET by ana');
    expect(JSON.parse(calls[0]!.Message!).sms.length).toBeLessThanOrEqual(160);
  });

  it('fails when the request carries unknown fields', async () => {
    await expect(sendTestAlerts(new SNSClient({}), { fleet, region: 'eu-central-1', topicArn: 'arn:aws:sns:eu-central-1:111122223333:alerts' }, { action: 'send-test-alert', topic: 'x' }, now)).rejects.toThrow(InputError);
    expect(sns.commandCalls(PublishCommand)).toHaveLength(0);
  });
});
