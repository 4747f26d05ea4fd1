/**
 * Schedule payload → dispatcher → SSM (local document runner on fake-docker hosts) →
 * status events → result Lambda → SNS (fauxqs, with the stack's own filter policies)
 * → SQS queues standing in for the recipients. Full output beyond SSM's inline limit
 * travels through s3rver.
 */
import { CreateTopicCommand, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, DeleteMessageBatchCommand } from '@aws-sdk/client-sqs';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { dispatch } from '../../lambdas/dispatcher/dispatch.js';
import { processCommandEvent, processInvocationEvent } from '../../lambdas/result/process.js';
import type { Fleet } from '../../lib/config/schema.js';
import { REGION, startS3, startSnsSqs } from '../support/aws-local.js';
import { fleetSpecs } from '../../lib/runbooks/spec.js';
import { documentsOf } from '../support/document-runner.js';
import { FakeHost, running, type FakeContainer } from '../support/fake-host.js';
import { FakeSsm } from '../support/fake-ssm.js';
import { MemoryStateStore } from '../support/memory-store.js';
import { demoFleet } from '../support/fleets.js';
import { startHttp, startTcp } from '../support/servers.js';
import { synthFleet } from '../support/synth.js';

const BIG = 90;
let http: Awaited<ReturnType<typeof startHttp>>;
let tcp: Awaited<ReturnType<typeof startTcp>>;
let s3: Awaited<ReturnType<typeof startS3>>;
let aws: Awaited<ReturnType<typeof startSnsSqs>>;
let fleet: Fleet;
let documents: Record<string, ReturnType<typeof documentsOf>[string]>;
let documentName: string;
let topicArn: string;
const queues: Record<'critical' | 'all', string> = { critical: '', all: '' };
const hosts: Record<string, FakeHost> = {};

function webContainers(): Record<string, FakeContainer> {
  return { 'web-api-1': running({ processes: ['node server --port 8080'] }), 'web-db-1': running() };
}

beforeAll(async () => {
  http = await startHttp({ '/health': { status: 200 } });
  tcp = await startTcp();
  s3 = await startS3(['command-output-bucket']);
  aws = await startSnsSqs();
  fleet = demoFleet((f) => {
    f.alerts = { ...f.alerts, warning: { failuresBeforeAlert: 1 } };
    f.stacks[0]!.composeDir = tmpdir();
    f.stacks[0]!.services[0]!.http = [{ url: `http://127.0.0.1:${http.port}/health`, maxLatencyMs: 1000 }];
    f.stacks[0]!.services[1]!.tcp = [{ host: '127.0.0.1', port: tcp.port }];
    f.stacks.push({
      name: 'big', hosts: { tag: { key: 'Role', value: 'big' } },
      services: Array.from({ length: BIG }, (_, i) => ({ name: `svc-${i}`, container: `big-container-number-${String(i).padStart(3, '0')}` })),
    });
  });
  // Prepare the stack as CDK synthesizes it; the document is taken from the template.
  const { template } = synthFleet(fleet);
  documents = documentsOf(template.toJSON() as never);
  documentName = Object.keys(documents)[0]!;
  for (const name of ['web-1', 'web-2', 'big-1']) hosts[name] = new FakeHost();
  hosts['web-1']!.setContainers(webContainers());
  hosts['web-2']!.setContainers(webContainers());
  hosts['big-1']!.setContainers(Object.fromEntries(Array.from({ length: BIG }, (_, i) => [`big-container-number-${String(i).padStart(3, '0')}`, running()])));

  // Recipients: one queue per subscription of the template, with its own filter policy.
  topicArn = (await aws.sns.send(new CreateTopicCommand({ Name: 'alerts' }))).TopicArn!;
  const subs = Object.values(template.findResources('AWS::SNS::Subscription')).map((s) => s.Properties);
  for (const [key, endpoint] of [['all', 'ops@example.com'], ['critical', 'lead@example.com']] as const) {
    const { QueueUrl } = await aws.sqs.send(new CreateQueueCommand({ QueueName: key }));
    const arn = (await aws.sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn;
    const policy = subs.find((s) => s.Endpoint === endpoint)!.FilterPolicy;
    await aws.sns.send(new SubscribeCommand({ TopicArn: topicArn, Protocol: 'sqs', Endpoint: arn, Attributes: { FilterPolicy: JSON.stringify(policy) } }));
    queues[key] = QueueUrl!;
  }
});

afterAll(async () => {
  for (const h of Object.values(hosts)) h.dispose();
  await Promise.all([http.close(), tcp.close(), s3.stop(), aws.stop()]);
});

let ssm: FakeSsm;
beforeEach(async () => {
  hosts['web-1']!.setContainers(webContainers());
  http.routes['/health'] = { status: 200 };
  await Promise.all(Object.keys(queues).map((k) => receive(k as keyof typeof queues)));
});

/** What a recipient got: SNS's envelope, and inside it the JSON body SNS would pick for SQS. */
async function receive(queue: keyof typeof queues) {
  const out: { subject: string; severity: string; body: any }[] = [];
  for (;;) {
    const r = await aws.sqs.send(new ReceiveMessageCommand({ QueueUrl: queues[queue], MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
    if (!r.Messages?.length) return out;
    for (const m of r.Messages) {
      const envelope = JSON.parse(m.Body!);
      // fauxqs delivers MessageStructure=json whole; real SNS would deliver its "sqs" member.
      out.push({ subject: envelope.Subject, severity: envelope.MessageAttributes.severity.Value, body: JSON.parse(JSON.parse(envelope.Message).sqs) });
    }
    await aws.sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queues[queue], Entries: r.Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }));
  }
}

async function runScheduled(stack: string, simulated: ConstructorParameters<typeof FakeSsm>[1], store = new MemoryStateStore(), now?: number) {
  ssm = new FakeSsm(documents, simulated, { client: s3.client, region: REGION }, fleetSpecs(fleet));
  try {
    // Act: the payload the schedule carries, then every status event SSM would emit
    const dispatched = await dispatch(ssm.client, { fleet, documents: { 'health-check': documentName }, outputBucket: 'command-output-bucket' }, { runbook: 'health-check', stack, trigger: 'schedule' });
    const ctx = { fleet, documents: { 'health-check': documentName }, region: REGION, topicArn, store, ...(now ? { now: () => now } : {}) };
    const outcomes = [];
    const clients = { ssm: ssm.client, s3: s3.client, sns: aws.sns };
    for (const event of ssm.drainEvents() as { 'detail-type': string }[]) {
      if (event['detail-type'] === 'EC2 Command Status-change Notification') await processCommandEvent(clients, ctx, event);
      else outcomes.push(await processInvocationEvent(clients, ctx, event));
    }
    return { dispatched, outcomes, sent: ssm.sent };
  } finally {
    ssm.restore();
  }
}

const webHosts = () => [
  { instanceId: 'i-00000000000000001', tags: { 'shipshape:fleet': 'demo', Role: 'web' }, host: hosts['web-1'] },
  { instanceId: 'i-00000000000000002', tags: { 'shipshape:fleet': 'demo', Role: 'web' }, host: hosts['web-2'] },
  // Same role, other fleet: the fleet tag keeps it out.
  { instanceId: 'i-00000000000000009', tags: { 'shipshape:fleet': 'other', Role: 'web' }, host: hosts['web-2'] },
];

describe('scheduled health check, end to end', () => {
  it('sends one command for the whole stack and no alert when every service is healthy', async () => {
    // Act
    const { dispatched, outcomes, sent } = await runScheduled('web', webHosts());
    // Assess
    expect(sent).toHaveLength(1);
    expect(dispatched[0]!.commandIds).toHaveLength(1);
    // Hosts finish in any order; compare sorted.
    expect(outcomes.map((o) => o.kind === 'evaluated' && [o.outcome.instanceId, o.outcome.status, o.alerts]).sort()).toEqual([
      ['i-00000000000000001', 'Success', 0],
      ['i-00000000000000002', 'Success', 0],
    ]);
    expect(await receive('all')).toEqual([]);
    expect(await receive('critical')).toEqual([]);
  });

  it('alerts exactly: critical for the unhealthy container, one warning for the endpoint slow on both hosts', async () => {
    // Prepare
    const c = webContainers();
    c['web-api-1']!.State.Health = { Status: 'unhealthy' };
    hosts['web-1']!.setContainers(c);
    http.routes['/health'] = { status: 200, delayMs: 1300 };
    // Act
    await runScheduled('web', webHosts());
    // Assess
    const summary = (msgs: Awaited<ReturnType<typeof receive>>) =>
      msgs.map((m) => [m.severity, m.body.hosts.map((h: { host: string }) => h.host).join(','), m.body.findings.map((f: { check: string }) => f.check).join(',')]).sort();
    expect(summary(await receive('critical'))).toEqual([['critical', 'i-00000000000000001', 'container.health']]);
    const all = await receive('all');
    expect(summary(all)).toEqual([
      ['critical', 'i-00000000000000001', 'container.health'],
      ['warning', 'i-00000000000000001,i-00000000000000002', 'probe.latency,probe.latency'],
    ]);
    expect(all.find((m) => m.severity === 'warning')!.subject).toMatch(/^\[WARNING\] demo\/web 2 hosts: api slow \(\d+ ms\)$/);
    const latency = all.find((m) => m.severity === 'warning')!.body.findings[0];
    expect(latency.observed).toBeGreaterThanOrEqual(1250);
    expect(latency.threshold).toBe('1000 ms');
    for (const m of all) expect(m.subject.length).toBeLessThan(100);
  });

  it('is critical when a host cannot be reached', async () => {
    const { outcomes } = await runScheduled('batch', [{ instanceId: 'i-0123456789abcdef0', tags: {}, host: undefined }]);
    expect(outcomes).toHaveLength(1);
    const crit = await receive('critical');
    expect(crit.map((m) => [m.body.stack, m.body.findings[0].check])).toEqual([['batch', 'host.reachable']]);
  });

  it('reads a result longer than the inline limit from S3 and evaluates all of it', async () => {
    // Prepare: the last container of a large stack is down
    const name = `big-container-number-${String(BIG - 1).padStart(3, '0')}`;
    const containers = hosts['big-1']!.containers();
    containers[name] = { State: { Status: 'exited' }, RestartCount: 1 };
    hosts['big-1']!.setContainers(containers);
    // Act
    const { outcomes } = await runScheduled('big', [{ instanceId: 'i-00000000000000003', tags: { 'shipshape:fleet': 'demo', Role: 'big' }, host: hosts['big-1'] }]);
    // Assess
    const o = outcomes[0]!;
    expect(o.kind).toBe('evaluated');
    if (o.kind !== 'evaluated') return;
    expect(o.outcome.findings.filter((f) => f.check === 'container.state')).toHaveLength(BIG);
    expect(o.outcome.findings.filter((f) => f.severity === 'critical').map((f) => f.target)).toEqual([`svc-${BIG - 1} (${name})`]);
    expect((await receive('critical'))[0]!.body.findings[0].target).toContain(name);
  });

  it('sends one alert for a failing service, no duplicate on the next run, RESOLVED when fixed, and nothing while silenced', async () => {
    // Prepare
    const store = new MemoryStateStore();
    const t0 = Date.parse('2026-11-21T09:00:00Z');
    const at = (minutes: number) => t0 + minutes * 60_000;
    const web1 = () => webHosts().slice(0, 1);
    const down = webContainers();
    // Exited without restarting: this test is about the state alert, not a crash loop.
    down['web-db-1'] = { State: { Status: 'exited' }, RestartCount: 0 };
    const subjects = async () => (await receive('all')).map((m) => m.subject);
    // Act + Assess: the service goes down
    hosts['web-1']!.setContainers(down);
    await runScheduled('web', web1(), store, at(0));
    expect(await subjects()).toEqual([expect.stringMatching(/^\[CRITICAL\] demo\/web \S+: db not running \(exited\)$/)]);
    await runScheduled('web', web1(), store, at(15));
    expect(await subjects()).toEqual([]);
    // It comes back
    hosts['web-1']!.setContainers(webContainers());
    await runScheduled('web', web1(), store, at(30));
    expect(await subjects()).toEqual([expect.stringMatching(/^\[RESOLVED\] demo\/web \S+: db not running \(exited\), down \d+ min$/)]);
    // It fails again inside a silence: nothing, then one alert when the silence ends
    await store.putSilence({ id: 'maint', until: at(90), stack: 'web', reason: 'upgrade' });
    hosts['web-1']!.setContainers(down);
    await runScheduled('web', web1(), store, at(45));
    await runScheduled('web', web1(), store, at(60));
    expect(await subjects()).toEqual([]);
    await runScheduled('web', web1(), store, at(90));
    expect(await subjects()).toEqual([expect.stringMatching(/^\[CRITICAL\] demo\/web \S+: db not running \(exited\)$/)]);
    expect(store.runs).toHaveLength(6);
  });
});
