import { DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { PublishCommand, SNSClient, type PublishCommandInput } from '@aws-sdk/client-sns';
import { ListCommandsCommand, SSMClient } from '@aws-sdk/client-ssm';
import { BatchWriteCommand, DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { FleetConfigInput } from '../../../lib/config/schema.js';
import type { RunRecord } from '../../../lambdas/result/state-store.js';
import { runWatchdog, type WatchdogContext } from '../../../lambdas/watchdog/run.js';
import { STACK_HOST } from '../../../lambdas/watchdog/watch.js';
import { demoFleet } from '../../support/fleets.js';
import { MemoryStateStore } from '../../support/memory-store.js';

const ssm = mockClient(SSMClient);
const sm = mockClient(SecretsManagerClient);
const sns = mockClient(SNSClient);
const clients = { ssm: new SSMClient({}), sm: new SecretsManagerClient({}), sns: new SNSClient({}) };
const MIN = 60_000;
const DAY = 86_400_000;
const TOPIC = 'arn:aws:sns:eu-central-1:111122223333:alerts';

const fleet = demoFleet((f: FleetConfigInput) => {
  f.stacks = [
    {
      name: 'web', hosts: { tag: { key: 'Role', value: 'web' } }, services: [{ name: 'api', container: 'web-api-1' }],
      schedules: { healthCheck: { cron: '*/15 * * * ? *', timezone: 'Europe/Berlin' } },
      secrets: [{ name: 'jwt', rotationDays: 30, file: '/opt/web/jwt.key' }],
    },
    {
      name: 'batch', hosts: { tag: { key: 'Role', value: 'batchh' } }, services: [{ name: 'worker', container: 'batch-worker-1' }],
      schedules: { healthCheck: { cron: '0 * * * ? *', timezone: 'UTC' } },
    },
  ];
});

const run = (stack: string, host: string, at: number, over: Partial<RunRecord> = {}): RunRecord => ({
  stack, host, runbook: 'health-check', runId: `r-${at}`, commandId: `c-${at}`, status: 'Success', at, critical: 0, warning: 0, notices: 0, ...over,
});
const published = () => sns.commandCalls(PublishCommand).map((c) => c.args[0].input as PublishCommandInput);
const body = (m: PublishCommandInput) => JSON.parse(JSON.parse(m.Message!).sqs) as { kind: string; severity: string; stack: string; runbook: string; findings: { check: string; host: string; target: string; message: string }[] };

let store: MemoryStateStore;
let clock: number;
const ctx = (over: Partial<WatchdogContext> = {}): WatchdogContext => ({ fleet, store, topicArn: TOPIC, region: 'eu-central-1', now: () => clock, checkSecrets: false, ...over });

beforeEach(() => {
  ssm.reset();
  sm.reset();
  sns.reset();
  sns.on(PublishCommand).resolves({ MessageId: 'm' });
  store = new MemoryStateStore();
  clock = Date.parse('2026-11-21T09:02:00Z');
});

describe('watchdog run: through the alert pipeline', () => {
  it('reports a silent host once, by name, and sends RESOLVED when it answers again', async () => {
    // Prepare: the first run sets the watch marks; both hosts answer the 09:15 run, only i-1 the 09:30 run
    await runWatchdog(clients, ctx());
    await store.recordRun(run('web', 'i-1', Date.parse('2026-11-21T09:16:00Z')));
    await store.recordRun(run('web', 'i-2', Date.parse('2026-11-21T09:16:00Z')));
    await store.recordRun(run('batch', 'i-9', Date.parse('2026-11-21T10:01:00Z')));
    await store.recordRun(run('web', 'i-1', Date.parse('2026-11-21T09:31:00Z')));
    // Act: 09:30 + 15 min window (600 s to start + 300 s to run) has passed at 09:45
    clock = Date.parse('2026-11-21T09:44:59Z');
    const early = await runWatchdog(clients, ctx());
    clock = Date.parse('2026-11-21T09:45:00Z');
    const due = await runWatchdog(clients, ctx());
    clock = Date.parse('2026-11-21T09:50:00Z');
    const repeat = await runWatchdog(clients, ctx());
    await store.recordRun(run('web', 'i-2', Date.parse('2026-11-21T09:51:00Z')));
    clock = Date.parse('2026-11-21T09:55:00Z');
    const back = await runWatchdog(clients, ctx());
    // Assess
    expect([early.alerts, due.alerts, repeat.alerts, back.alerts]).toEqual([0, 1, 0, 1]);
    const [firing, resolved] = published();
    expect(firing!.Subject).toMatch(/^\[CRITICAL\] demo\/web i-2: /);
    expect(firing!.MessageAttributes).toMatchObject({ severity: { StringValue: 'critical' }, kind: { StringValue: 'firing' }, stack: { StringValue: 'web' }, runbook: { StringValue: 'watchdog' } });
    const f = body(firing!).findings;
    expect(f).toEqual([expect.objectContaining({ check: 'host.silent', host: 'i-2', target: 'health-check' })]);
    expect(f[0]!.message).toContain('i-2 did not report health-check for the run due 2026-11-21T09:30Z while 1 other host(s) of stack web did');
    expect(JSON.parse(firing!.Message!).default).toContain('i-2');
    expect(resolved!.Subject).toMatch(/^\[RESOLVED\] demo\/web i-2/);
    expect(body(resolved!).kind).toBe('resolved');
    expect(store.alerts.get(`web#${STACK_HOST}`)?.size).toBe(0);
  });

  it('reports a run that matched 0 hosts at its first run, naming the tag, after asking SSM', async () => {
    // Prepare: the batch stack's tag has a typo; its first scheduled run went out at 10:00 and nobody answered
    await runWatchdog(clients, ctx());
    await store.recordDispatch('batch', 'health-check', { at: Date.parse('2026-11-21T10:00:05Z'), runId: 'health-check-batch-1', commandIds: ['0b9c1a2e-1111-2222-3333-444455556666'], targets: 'tag Role=batchh' });
    ssm.on(ListCommandsCommand).resolves({ Commands: [{ CommandId: '0b9c1a2e-1111-2222-3333-444455556666', TargetCount: 0 }] });
    // Act
    clock = Date.parse('2026-11-21T10:15:05Z');
    const report = await runWatchdog(clients, ctx());
    // Assess
    expect(ssm.commandCalls(ListCommandsCommand).map((c) => c.args[0].input)).toEqual([{ CommandId: '0b9c1a2e-1111-2222-3333-444455556666' }]);
    const batch = published().filter((m) => body(m).stack === 'batch');
    expect(batch).toHaveLength(1);
    const checks = body(batch[0]!).findings.map((x) => x.check).sort();
    expect(checks).toEqual(['missed', 'run.no-targets']);
    const noTargets = body(batch[0]!).findings.find((x) => x.check === 'run.no-targets')!;
    expect(noTargets.message).toContain('matched 0 hosts: no managed instance carries both tags Role=batchh and shipshape:fleet=demo');
    expect(batch[0]!.Subject).toMatch(/^\[CRITICAL\] demo\/batch all hosts: /);
    expect(report.listCommands).toBe(1);
  });

  it('reads secret ages when asked, alerts past rotationDays + 2, and reports each age for the metric', async () => {
    // Prepare
    sm.on(DescribeSecretCommand).resolves({ LastRotatedDate: new Date(clock - 40 * DAY), CreatedDate: new Date(clock - 400 * DAY) });
    // Act
    const report = await runWatchdog(clients, ctx({ checkSecrets: true }));
    // Assess
    expect(sm.commandCalls(DescribeSecretCommand).map((c) => c.args[0].input.SecretId)).toEqual(['shipshape/demo/web/jwt']);
    expect(report.secretAges).toEqual([{ secret: 'web/jwt', ageDays: 40 }]);
    const msg = published().find((m) => body(m).findings.some((x) => x.check === 'secret.age'))!;
    expect(msg.Subject).toMatch(/^\[CRITICAL\] demo\/web all hosts: /);
  });

  it('reads secrets only in the first watchdog period of each hour by default', async () => {
    // Prepare
    sm.on(DescribeSecretCommand).resolves({ CreatedDate: new Date(clock - DAY) });
    // Act
    clock = Date.parse('2026-11-21T09:04:59Z');
    await runWatchdog(clients, ctx({ checkSecrets: undefined }));
    clock = Date.parse('2026-11-21T09:05:00Z');
    await runWatchdog(clients, ctx({ checkSecrets: undefined }));
    // Assess
    expect(sm.commandCalls(DescribeSecretCommand)).toHaveLength(1);
  });

  it('fails when SNS refuses a message: the state is not saved, so the next run sends it again', async () => {
    // Prepare
    await runWatchdog(clients, ctx());
    await store.recordRun(run('web', 'i-1', Date.parse('2026-11-21T09:16:00Z')));
    await store.recordRun(run('web', 'i-2', Date.parse('2026-11-21T09:16:00Z')));
    await store.recordRun(run('web', 'i-1', Date.parse('2026-11-21T09:31:00Z')));
    sns.on(PublishCommand).rejectsOnce(new Error('SNS is down')).resolves({ MessageId: 'm' });
    clock = Date.parse('2026-11-21T09:45:00Z');
    // Act
    const failed = await runWatchdog(clients, ctx());
    clock = Date.parse('2026-11-21T09:50:00Z');
    const retried = await runWatchdog(clients, ctx());
    // Assess
    expect(failed.errors).toEqual([expect.stringContaining('stack web: SNS is down')]);
    expect(retried.alerts).toBe(1);
    expect(failed.alertsByStack, 'an alert SNS refused is not counted as sent').toEqual({});
    expect(retried.alertsByStack).toEqual({ web: 1 });
    expect(body(published()[1]!).findings[0]).toMatchObject({ check: 'host.silent', host: 'i-2' });
  });
});

describe('watchdog handler', () => {
  const dynamo = mockClient(DynamoDBDocumentClient);
  beforeAll(() => {
    // Files share worker processes (vitest.config.ts): the handler modules, which read the environment
    // and start Powertools at import, are evaluated afresh here and not left behind for the next file.
    vi.resetModules();
  });
  afterAll(() => {
    vi.unstubAllEnvs();
    vi.useRealTimers();
    vi.resetModules();
  });

  it('runs on the schedule\'s event with the environment, and answers a malformed event without throwing', async () => {
    // Prepare: half past the hour, so only the run that asks reads secret ages (whenever the suite runs)
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-11-22T10:30:00Z'));
    vi.stubEnv('SHIPSHAPE_FLEET', JSON.stringify(fleet));
    vi.stubEnv('SHIPSHAPE_FLEET_FILE', '/nonexistent/fleet.json');
    vi.stubEnv('SHIPSHAPE_FLEET_NAME', 'demo');
    vi.stubEnv('SHIPSHAPE_STATE_TABLE', 'state-table');
    vi.stubEnv('SHIPSHAPE_ALERT_TOPIC_ARN', TOPIC);
    vi.stubEnv('AWS_REGION', 'eu-central-1');
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
    dynamo.on(QueryCommand).resolves({ Items: [] });
    dynamo.on(BatchWriteCommand).resolves({});
    sm.on(DescribeSecretCommand).resolves({ CreatedDate: new Date() });
    const { handler } = await import('../../../lambdas/watchdog/handler.js');
    // Act
    const ok = await handler({ checkSecrets: true });
    const scheduled = await handler({ action: 'watch' });
    const bad = await handler({ checkSecrets: 'yes' });
    // Assess
    expect(ok).toEqual({ failing: 0, alerts: 0, errors: 0 });
    expect(scheduled).toEqual({ failing: 0, alerts: 0, errors: 0 });
    expect(bad).toMatchObject({ rejected: expect.stringMatching(/invalid watchdog event/) });
    const marks = dynamo.commandCalls(BatchWriteCommand)[0]!.args[0].input.RequestItems!['state-table']!;
    expect(marks.map((w) => w.PutRequest?.Item?.sk)).toEqual(['web#health-check', 'batch#health-check']);
    expect(sm.commandCalls(DescribeSecretCommand)).toHaveLength(1);
  });
});
