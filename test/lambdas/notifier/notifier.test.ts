import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseAlert } from '../../../lambdas/notifier/alert.js';
import { deliver, retryAfterMs, SecretCache } from '../../../lambdas/notifier/deliver.js';
import { MemoryDeliveryLog, receiversOf, type NotifyDeps } from '../../../lambdas/notifier/route.js';
import { handleSnsEvent } from '../../../lambdas/notifier/sns-event.js';
import { OK_STATE, type AlertState, type Notice } from '../../../lambdas/result/alert-state.js';
import { buildAlerts, fingerprint } from '../../../lambdas/result/notify.js';
import { sendTestAlerts } from '../../../lambdas/console/alerts.js';
import type { OutboxEntry } from '../../../lambdas/result/state-store.js';
import type { Finding } from '../../../lib/results/findings.js';
import { demoFleet } from '../../support/fleets.js';

// ---------------------------------------------------------------- a local server that answers like the vendors

interface Seen { path: string; headers: IncomingMessage['headers']; body: any }
type Answer = { status: number; body?: string; headers?: Record<string, string> };
const seen: Seen[] = [];
/** Answers queued per path; when a queue is empty the vendor's documented success answer. */
const queued = new Map<string, Answer[]>();
const SUCCESS: [RegExp, Answer][] = [
  [/^\/slack\//, { status: 200, body: 'ok', headers: { 'content-type': 'text/html' } }],
  [/^\/teams\//, { status: 202, body: '' }],
  [/^\/v2\/enqueue$/, { status: 202, body: JSON.stringify({ status: 'success', message: 'Event processed', dedup_key: 'x' }), headers: { 'content-type': 'application/json' } }],
  [/^\/v2\/alerts/, { status: 202, body: JSON.stringify({ result: 'Request will be processed', took: 0.01, requestId: 'r-1' }), headers: { 'content-type': 'application/json' } }],
];
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const path = req.url ?? '/';
      seen.push({ path, headers: req.headers, body: raw ? JSON.parse(raw) : null });
      const key = path.split('?')[0]!;
      const answer = queued.get(key)?.shift() ?? SUCCESS.find(([re]) => re.test(key))?.[1] ?? { status: 404, body: 'no_service' };
      res.writeHead(answer.status, answer.headers ?? {});
      res.end(answer.body ?? '');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

// ---------------------------------------------------------------- fleet, secrets, messages

const arn = (name: string) => `arn:aws:secretsmanager:eu-central-1:123456789012:secret:${name}-AbCdEf`;
const fleet = demoFleet((f) => {
  f.alerts = {
    timezone: 'Europe/Berlin',
    recipients: [
      { email: 'ops@example.com' },
      { slack: { secretArn: arn('slack') }, severities: ['critical', 'warning'] },
      { teams: { secretArn: arn('teams') }, severities: ['critical'] },
      { pagerduty: { secretArn: arn('pd') }, severities: ['critical'] },
      { opsgenie: { secretArn: arn('og'), region: 'eu' }, severities: ['critical'] },
    ],
    escalation: [{ afterMinutes: 15, recipients: [{ pagerduty: { secretArn: arn('pd-l1') } }] }],
  };
});
const sm = mockClient(SecretsManagerClient);
const sleeps: number[] = [];
let deps: NotifyDeps;

beforeEach(() => {
  seen.length = 0;
  queued.clear();
  sleeps.length = 0;
  sm.reset();
  const values: Record<string, string> = {
    [arn('slack')]: `${base}/slack/services/T000/B000/XXXX`,
    [arn('teams')]: JSON.stringify({ url: `${base}/teams/workflows/abc` }),
    [arn('pd')]: 'R0UTINGKEY0000000000000000000001',
    [arn('pd-l1')]: 'R0UTINGKEY0000000000000000000002',
    [arn('og')]: 'og-api-key-1',
  };
  sm.on(GetSecretValueCommand).callsFake((input: { SecretId: string }) => ({ SecretString: values[input.SecretId] }));
  deps = {
    receivers: receiversOf(fleet),
    secrets: new SecretCache(new SecretsManagerClient({})),
    log: new MemoryDeliveryLog(),
    endpoints: { pagerduty: `${base}/v2/enqueue`, opsgenie: { us: base, eu: base }, requireHttps: false },
    deliverOptions: { sleep: async (ms) => void sleeps.push(ms), random: () => 0.5 },
  };
});

const T0 = Date.parse('2026-11-22T13:05:00Z');
const state = (since: number): AlertState => ({ ...OK_STATE, status: 'failing', severity: 'critical', since, consecutiveFailures: 1, runs: 1, announced: true, notifiedAt: since, notifiedSeverity: 'critical' });
function entry(over: Partial<Notice> = {}, f: Partial<Finding> = {}): OutboxEntry {
  const finding: Finding = { check: 'container.state', target: 'api (web-api-1)', severity: 'critical', observed: 'exited', threshold: 'running', message: 'web-api-1 is exited', ...f };
  return {
    id: 'i-0123456789abcdef0#0',
    host: { runbook: 'health-check', stack: 'web', runId: 'run-7', instanceId: 'i-0123456789abcdef0', hostname: 'web-1', commandId: '0b9c1a2e-1111-2222-3333-444455556666', status: 'Success' },
    notice: { kind: 'firing', severity: 'critical', finding, state: state(T0), at: T0, ...over },
  };
}
/** What SNS hands a Lambda subscriber for a message the result function published. */
function snsEvent(entries: OutboxEntry[], messageId = 'msg-1') {
  const m = buildAlerts(entries, { fleet: fleet.fleet, region: 'eu-central-1', topicArn: 'arn:aws:sns:eu-central-1:123456789012:alerts', timezone: 'Europe/Berlin' })[0]!;
  const attrs = Object.fromEntries(Object.entries(m.MessageAttributes!).map(([k, v]) => [k, { Type: 'String', Value: v.StringValue! }]));
  return { Records: [{ EventSource: 'aws:sns', Sns: { MessageId: messageId, Subject: m.Subject, Message: JSON.parse(m.Message!).lambda, MessageAttributes: attrs } }] };
}
const FP = fingerprint({ fleet: 'demo', stack: 'web', host: 'i-0123456789abcdef0', runbook: 'health-check', check: 'container.state', target: 'api (web-api-1)' });
const to = (prefix: string) => seen.filter((s) => s.path.startsWith(prefix));

describe('notifier: each vendor gets its documented payload', () => {
  it('Slack: an incoming-webhook payload with fallback text and blocks naming what failed', async () => {
    // Act
    const out = await handleSnsEvent(snsEvent([entry()]), deps);
    // Assess
    expect(out.failed).toEqual([]);
    const [slack] = to('/slack/');
    expect(slack!.path).toBe('/slack/services/T000/B000/XXXX');
    expect(slack!.headers['content-type']).toBe('application/json');
    expect(slack!.body.text).toBe('CRITICAL: [CRITICAL] demo/web web-1: api not running (exited)');
    expect(slack!.body.blocks[0]).toEqual({ type: 'header', text: { type: 'plain_text', text: '[CRITICAL] demo/web web-1: api not running (exited)', emoji: true } });
    expect(JSON.stringify(slack!.body.blocks)).toContain(FP);
    expect(slack!.body.blocks.find((b: any) => b.type === 'actions').elements[0].url).toMatch(/^https:\/\/eu-central-1\.console\.aws\.amazon\.com\/systems-manager\/run-command\//);
  });

  it('Teams: an Adaptive Card in a message attachment', async () => {
    // Act
    await handleSnsEvent(snsEvent([entry()]), deps);
    // Assess
    const [teams] = to('/teams/');
    expect(teams!.body.type).toBe('message');
    const card = teams!.body.attachments[0];
    expect(card.contentType).toBe('application/vnd.microsoft.card.adaptive');
    expect(card.content).toMatchObject({ type: 'AdaptiveCard', version: '1.4' });
    expect(card.content.body[0]).toMatchObject({ type: 'TextBlock', text: '[CRITICAL] demo/web web-1: api not running (exited)', color: 'Attention' });
    expect(card.content.actions[0]).toMatchObject({ type: 'Action.OpenUrl', title: 'Command output' });
  });

  it('PagerDuty: trigger with dedup_key = fingerprint, then resolve with the same key on RESOLVED', async () => {
    // Prepare
    const ok: Finding = { check: 'container.state', target: 'api (web-api-1)', severity: 'ok', observed: 'running', threshold: 'running', message: 'running' };
    // Act
    await handleSnsEvent(snsEvent([entry()], 'msg-1'), deps);
    await handleSnsEvent(snsEvent([entry({ kind: 'resolved', finding: ok, at: T0 + 42 * 60_000 })], 'msg-2'), deps);
    // Assess
    const pd = to('/v2/enqueue').map((s) => s.body);
    expect(pd).toHaveLength(2);
    expect(pd[0]).toMatchObject({
      routing_key: 'R0UTINGKEY0000000000000000000001', event_action: 'trigger', dedup_key: FP,
      payload: { summary: 'demo/web web-1: api (web-api-1) not running (exited)', source: 'web-1', severity: 'critical', component: 'web', group: 'demo', class: 'container.state' },
    });
    expect(pd[0].payload.timestamp).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(pd[1]).toEqual({ routing_key: 'R0UTINGKEY0000000000000000000001', event_action: 'resolve', dedup_key: FP });
  });

  it('Opsgenie: create with alias = fingerprint and a GenieKey, close by alias on RESOLVED', async () => {
    // Prepare
    const ok: Finding = { check: 'container.state', target: 'api (web-api-1)', severity: 'ok', observed: 'running', threshold: 'running', message: 'running' };
    // Act
    await handleSnsEvent(snsEvent([entry()], 'msg-1'), deps);
    await handleSnsEvent(snsEvent([entry({ kind: 'resolved', finding: ok, at: T0 + 60_000 })], 'msg-2'), deps);
    // Assess
    const og = to('/v2/alerts');
    expect(og[0]!.path).toBe('/v2/alerts');
    expect(og[0]!.headers.authorization).toBe('GenieKey og-api-key-1');
    expect(og[0]!.body).toMatchObject({ alias: FP, priority: 'P1', message: 'web-1: api (web-api-1) not running (exited)', entity: 'web-1', source: 'shipshape demo' });
    expect(og[0]!.body.message.length).toBeLessThanOrEqual(130);
    expect(og[1]!.path).toBe(`/v2/alerts/${FP}/close?identifierType=alias`);
  });

  it('routes by severity like the filter policies: a warning reaches Slack only', async () => {
    // Act
    const out = await handleSnsEvent(snsEvent([entry({ severity: 'warning' }, { severity: 'warning' })]), deps);
    // Assess
    expect(out.sent.map((s) => s.channel)).toEqual(['slack']);
  });

  it('sends an escalation only to its level', async () => {
    // Act
    const out = await handleSnsEvent(snsEvent([entry({ kind: 'escalation', level: 1 })]), deps);
    // Assess
    expect(out.sent.map((s) => s.receiver)).toEqual(['escalation[0].recipients[0]']);
    expect(to('/v2/enqueue')[0]!.body).toMatchObject({ routing_key: 'R0UTINGKEY0000000000000000000002', dedup_key: FP });
  });

  it('delivers a CloudWatch alarm published straight to the topic by an alarm action', async () => {
    // Prepare: the JSON CloudWatch publishes, without message attributes
    const alarm = { AlarmName: 'shipshape-demo-result-errors', AlarmDescription: 'The result function failed', NewStateValue: 'ALARM', OldStateValue: 'OK', NewStateReason: 'Threshold Crossed', StateChangeTime: '2026-11-22T13:05:00.000+0000', Region: 'EU (Frankfurt)', AlarmArn: 'arn:aws:cloudwatch:eu-central-1:123456789012:alarm:shipshape-demo-result-errors' };
    const ev = { Records: [{ Sns: { MessageId: 'cw-1', Subject: 'ALARM: "shipshape-demo-result-errors" in EU (Frankfurt)', Message: JSON.stringify(alarm) } }] };
    // Act
    const out = await handleSnsEvent(ev, deps);
    // Assess
    expect(out.sent.map((s) => s.channel)).toEqual(['slack', 'teams', 'pagerduty', 'opsgenie']);
    expect(to('/v2/enqueue')[0]!.body.payload.summary).toContain('shipshape-demo-result-errors');
    expect(to('/slack/')[0]!.body.blocks.find((b: any) => b.type === 'actions').elements[0].url).toContain('region=eu-central-1#alarmsV2:alarm/shipshape-demo-result-errors');
  });
});

describe('notifier: send-test-alert', () => {
  it('delivers each test message to the receivers of its severity or level, and pagers close the test at once', async () => {
    // Prepare: what the console publishes, as SNS hands it to the notifier
    const published: any[] = [];
    await sendTestAlerts({ send: async (c: any) => void published.push(c.input) } as never, { fleet, region: 'eu-central-1', topicArn: 'arn:aws:sns:eu-central-1:123456789012:alerts' }, { action: 'send-test-alert' }, T0);
    const records = published.map((m, i) => ({ Sns: { MessageId: `t-${i}`, Subject: m.Subject, Message: JSON.parse(m.Message).lambda, MessageAttributes: Object.fromEntries(Object.entries(m.MessageAttributes).map(([k, v]: [string, any]) => [k, { Type: 'String', Value: v.StringValue }])) } }));
    // Act
    const out = await handleSnsEvent({ Records: records }, deps);
    // Assess
    expect(out.failed).toEqual([]);
    expect(out.sent.map((s) => s.receiver)).toEqual(['recipients[1]', 'recipients[2]', 'recipients[3]', 'recipients[4]', 'recipients[1]', 'escalation[0].recipients[0]']);
    expect(to('/v2/enqueue').map((s) => s.body.event_action)).toEqual(['trigger', 'resolve', 'trigger', 'resolve']);
    expect(to('/v2/alerts').map((s) => s.path.split('?')[0]!.split('/').pop())).toEqual(['alerts', 'close']);
    expect(to('/slack/')[0]!.body.text).toMatch(/^TEST CRITICAL: \[TEST CRITICAL\] demo: shipshape test alert, nothing is wrong$/);
  });
});

describe('notifier: retries, secrets, exactly once', () => {
  it('retries 429 honouring Retry-After and 5xx with backoff, then succeeds', async () => {
    // Prepare
    queued.set('/slack/services/T000/B000/XXXX', [{ status: 429, body: 'rate_limited', headers: { 'retry-after': '3' } }, { status: 503, body: 'unavailable' }]);
    queued.set('/v2/enqueue', [{ status: 500, body: '{}' }, { status: 502, body: '{}' }]);
    // Act
    const out = await handleSnsEvent(snsEvent([entry()]), deps);
    // Assess
    expect(out.failed).toEqual([]);
    expect(to('/slack/')).toHaveLength(3);
    expect(to('/v2/enqueue')).toHaveLength(3);
    expect(sleeps[0]).toBeGreaterThanOrEqual(3000);
    expect(sleeps).toHaveLength(4);
  });

  it('fails when a vendor keeps failing, and a retry of the record sends only to the receivers that missed it', async () => {
    // Prepare
    queued.set('/teams/workflows/abc', Array(5).fill({ status: 500, body: 'boom' }));
    // Act
    const first = await handleSnsEvent(snsEvent([entry()], 'msg-9'), deps);
    const retry = await handleSnsEvent(snsEvent([entry()], 'msg-9'), deps);
    // Assess
    expect(first.failed).toEqual([expect.objectContaining({ receiver: 'recipients[2]', channel: 'teams', retryable: true })]);
    expect(retry.sent.map((s) => s.channel)).toEqual(['teams']);
    expect(retry.skipped).toEqual(['recipients[1]', 'recipients[3]', 'recipients[4]']);
    expect(to('/slack/')).toHaveLength(1);
    expect(to('/v2/enqueue')).toHaveLength(1);
  });

  it('fails at once on a 4xx other than 429, without retrying, and never logs the webhook path', async () => {
    // Prepare
    queued.set('/slack/services/T000/B000/XXXX', [{ status: 404, body: 'no_service' }]);
    // Act
    const out = await handleSnsEvent(snsEvent([entry()]), deps);
    // Assess
    expect(out.failed).toEqual([expect.objectContaining({ channel: 'slack', retryable: false })]);
    expect(out.failed[0]!.error).toContain('answered 404');
    expect(out.failed[0]!.error).not.toContain('XXXX');
    expect(to('/slack/')).toHaveLength(1);
  });

  it('reads each secret once per cold start', async () => {
    // Act
    await handleSnsEvent(snsEvent([entry()], 'a'), deps);
    await handleSnsEvent(snsEvent([entry()], 'b'), deps);
    // Assess
    const ids = sm.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input.SecretId);
    expect(ids.sort()).toEqual([arn('og'), arn('pd'), arn('slack'), arn('teams')].sort());
  });

  it('fails when the Slack secret is not https in production', async () => {
    // Act
    const out = await handleSnsEvent(snsEvent([entry()]), { ...deps, endpoints: { ...deps.endpoints, requireHttps: true } });
    // Assess
    expect(out.failed.map((f) => [f.channel, f.error])).toEqual([['slack', 'the slack webhook must be an https URL'], ['teams', 'the teams webhook must be an https URL']]);
  });

  it('reads Retry-After in seconds and as an HTTP date', () => {
    expect(retryAfterMs('7', 0)).toBe(7000);
    expect(retryAfterMs('Sun, 22 Nov 2026 13:05:10 GMT', Date.parse('2026-11-22T13:05:00Z'))).toBe(10_000);
    expect(retryAfterMs(null, 0)).toBeUndefined();
  });

  it('gives up on a Retry-After longer than the cap, leaving it to the Lambda retry', async () => {
    // Prepare
    queued.set('/x', [{ status: 429, headers: { 'retry-after': '3600' } }]);
    // Act / Assess
    await expect(deliver({ method: 'POST', url: `${base}/x`, headers: {}, body: {} }, { sleep: async () => {} })).rejects.toThrow(/asks to wait 3600 s/);
  });

  it('ignores messages that are neither shipshape alerts nor alarms', () => {
    expect(parseAlert('not json', undefined, {}, new Date())).toBeUndefined();
    expect(parseAlert(JSON.stringify({ hello: 'world' }), undefined, {}, new Date())).toBeUndefined();
  });
});
