import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { GetCommandInvocationCommand, ListCommandsCommand, SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { looksTruncated, parseS3Url } from '../../../lambdas/result/invocation.js';
import { processCommandEvent, processInvocationEvent, type ProcessOutcome, type ResultContext } from '../../../lambdas/result/process.js';
import { MemoryStateStore } from '../../support/memory-store.js';
import { InputError } from '../../../lambdas/shared/errors.js';
import { demoFleet } from '../../support/fleets.js';
import { healthyWebResult } from '../../support/results.js';

const ssm = mockClient(SSMClient);
const s3 = mockClient(S3Client);
const sns = mockClient(SNSClient);
const clients = { ssm: new SSMClient({}), s3: new S3Client({}), sns: new SNSClient({}) };
// Warnings alert on their first run here, so one run shows every kind of message.
const fleet = demoFleet((f) => (f.alerts = { ...f.alerts, warning: { failuresBeforeAlert: 1 } }));
let ctx: ResultContext;
const COMMAND = '0b9c1a2e-1111-2222-3333-444455556666';

function event(status = 'Success', documentName = 'HealthDoc-123') {
  return {
    source: 'aws.ssm', 'detail-type': 'EC2 Command Invocation Status-change Notification', region: 'eu-central-1',
    detail: { 'command-id': COMMAND, 'document-name': documentName, 'instance-id': 'i-0123456789abcdef0', 'requested-date-time': '2026-11-21T09:00:00Z', status },
  };
}
function invocation(stdout: string, extra: Record<string, unknown> = {}) {
  ssm.on(GetCommandInvocationCommand).resolves({ Status: 'Success', StatusDetails: 'Success', ResponseCode: 0, StandardOutputContent: stdout, Comment: 'shipshape web health-check run-7', ...extra });
}
/** One host's invocation, then the end of its command, as SSM reports them. */
async function finish(c: ResultContext, ev: ReturnType<typeof event>): Promise<ProcessOutcome> {
  const r = await processInvocationEvent(clients, c, ev);
  const flushed = await processCommandEvent(clients, c, commandEvent(ev.detail['command-id']));
  return r.kind === 'evaluated' ? { ...r, alerts: r.alerts + flushed.alerts } : r;
}
function commandEvent(commandId: string, status = 'Success') {
  return { source: 'aws.ssm', 'detail-type': 'EC2 Command Status-change Notification', detail: { 'command-id': commandId, 'document-name': 'HealthDoc-123', status } };
}

function evaluated(r: ProcessOutcome) {
  if (r.kind !== 'evaluated') throw new Error(`expected an evaluation, got ${JSON.stringify(r)}`);
  return r;
}
function published() {
  return sns.commandCalls(PublishCommand).map((c) => c.args[0].input);
}

beforeEach(() => {
  ctx = { fleet, documents: { 'health-check': 'HealthDoc-123' }, region: 'eu-central-1', topicArn: 'arn:aws:sns:eu-central-1:111122223333:alerts', backoff: { sleep: async () => {} }, store: new MemoryStateStore() };
  ssm.reset();
  s3.reset();
  sns.reset();
  sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
});

describe('processInvocationEvent', () => {
  it('sends nothing for a healthy host', async () => {
    invocation(JSON.stringify(healthyWebResult()));
    const r = evaluated(await finish(ctx, event()));
    expect(r.alerts).toBe(0);
    expect(r.outcome).toMatchObject({ stack: 'web', runId: 'run-7', hostname: 'web-1', status: 'Success' });
    expect(published()).toEqual([]);
  });

  it('alerts once per severity with a short subject, a readable body, a JSON body and a severity attribute', async () => {
    // Prepare
    const result = healthyWebResult();
    result.containers[0]!.state = 'exited';
    result.probes[1] = { ...result.probes[1]!, latencyMs: 2000 };
    invocation(JSON.stringify(result));
    // Act
    const r = evaluated(await finish(ctx, event()));
    // Assess
    expect(r.alerts).toBe(2);
    const [msg, warning] = published();
    expect(warning!.Subject).toBe('[WARNING] demo/web web-1: api slow (2000 ms)');
    expect(warning!.MessageAttributes!.severity!.StringValue).toBe('warning');
    expect(msg!.Subject).toBe('[CRITICAL] demo/web web-1: api not running (exited)');
    expect(msg!.Subject!.length).toBeLessThan(100);
    expect(msg!.MessageAttributes!.severity).toEqual({ DataType: 'String', StringValue: 'critical' });
    const body = JSON.parse(msg!.Message!);
    expect(body.email).toContain('Fleet: demo   Stack: web   Host: web-1 (i-0123456789abcdef0)');
    expect(body.email).toContain('CRITICAL api (web-api-1) not running (exited)   [container.state]');
    expect(body.email).toContain('observed: exited   expected: running');
    expect(body.email).toContain('next: Read `docker logs --tail 100 <container>`');
    expect(body.email).toContain(`https://eu-central-1.console.aws.amazon.com/systems-manager/run-command/${COMMAND}/i-0123456789abcdef0?region=eu-central-1`);
    expect(body.email).toMatch(/failing since \d{4}-\d\d-\d\d \d\d:\d\d UTC, 1 run\(s\)/);
    expect(JSON.parse(body.sqs).findings[0].since).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(JSON.parse(body.sqs).findings[0].fingerprint).toMatch(/^ss-[0-9a-f]{24}$/);
    expect(msg!.MessageAttributes!.kind).toEqual({ DataType: 'String', StringValue: 'firing' });
    expect(JSON.parse(body.sqs).findings.map((f: { check: string }) => f.check)).toEqual(['container.state']);
    expect(JSON.parse(JSON.parse(warning!.Message!).sqs).findings.map((f: { check: string }) => f.check)).toEqual(['probe.latency']);
    expect(body.sms.length).toBeLessThanOrEqual(160);
    expect(body.sms).toMatch(/^CRITICAL demo\/web web-1: api not running \(exited\) since \d\d:\d\d UTC$/);
  });

  it('reads the whole output from S3 when SSM truncated it', async () => {
    // Prepare: a result padded past the inline limit
    const result = healthyWebResult();
    result.containers[1]!.state = 'restarting';
    result.errors = Array.from({ length: 20 }, (_, i) => `padding ${i} ${'x'.repeat(1300)}`);
    const full = JSON.stringify(result);
    expect(full.length).toBeGreaterThan(24_000);
    invocation(full.slice(0, 24_000), { StandardOutputUrl: 'https://s3.eu-central-1.amazonaws.com/out-bucket/command-output/health-check/web/cmd/i-1/awsrunShellScript/healthCheck/stdout' });
    // The SDK's stream body, reduced to the one method the Lambda reads it with.
    s3.on(GetObjectCommand).resolves({ Body: { transformToString: async () => full } as never });
    // Act
    const r = evaluated(await finish(ctx, event()));
    // Assess
    expect(s3.commandCalls(GetObjectCommand)[0]!.args[0].input).toMatchObject({ Bucket: 'out-bucket', Key: 'command-output/health-check/web/cmd/i-1/awsrunShellScript/healthCheck/stdout' });
    expect(r.outcome.findings.filter((f) => f.check === 'container.state' && f.severity === 'critical')).toHaveLength(1);
  });

  it('is critical when the host timed out or could not be reached', async () => {
    const cases = [['TimedOut', 'Execution Timed Out', 'run.timeout'], ['Failed', 'Undeliverable', 'host.reachable'], ['TimedOut', 'Delivery Timed Out', 'host.reachable']] as const;
    for (const [status, details, check] of cases) {
      ctx = { ...ctx, store: new MemoryStateStore() };
      ssm.reset();
      sns.resetHistory();
      ssm.on(GetCommandInvocationCommand).resolves({ Status: status, StatusDetails: details, ResponseCode: -1, StandardOutputContent: '', Comment: 'shipshape web health-check run-7' });
      const r = evaluated(await finish(ctx, event(status)));
      expect(r.outcome.findings).toEqual([expect.objectContaining({ check, severity: 'critical', observed: details })]);
      expect(published()[0]!.MessageAttributes!.severity!.StringValue).toBe('critical');
    }
  });

  it('is critical when the host printed something that is not a result, without echoing control characters', async () => {
    invocation('bash: line 1: \u001b[31mdocker: command not found\nnot json', { Status: 'Failed', ResponseCode: 127, StandardErrorContent: 'oops\u0000' });
    const r = evaluated(await finish(ctx, event('Failed')));
    expect(r.outcome.findings).toHaveLength(1);
    expect(r.outcome.findings[0]).toMatchObject({ check: 'run.output', severity: 'critical' });
    expect(r.outcome.findings[0]!.message).toMatch(/exit 127/);
    expect(published()[0]!.Message).not.toMatch(/[\u0000\u001b]/);
  });

  it('is critical when the JSON does not match the result schema', async () => {
    invocation(JSON.stringify({ ...healthyWebResult(), containers: 'nope' }));
    const r = evaluated(await finish(ctx, event()));
    expect(r.outcome.findings[0]).toMatchObject({ check: 'run.output', severity: 'critical' });
    expect(r.outcome.findings[0]!.observed).toMatch(/containers/);
  });

  it('evaluates a result from a failed run and adds the exit code', async () => {
    invocation(JSON.stringify(healthyWebResult()), { Status: 'Failed', ResponseCode: 2 });
    const r = evaluated(await finish(ctx, event('Failed')));
    expect(r.outcome.findings.filter((f) => f.severity !== 'ok').map((f) => f.check)).toEqual(['run.exit']);
  });

  it('waits for an invocation that is not readable yet', async () => {
    ssm.on(GetCommandInvocationCommand)
      .rejectsOnce(Object.assign(new Error('not yet'), { name: 'InvocationDoesNotExist' }))
      .resolves({ Status: 'Success', StandardOutputContent: JSON.stringify(healthyWebResult()), Comment: 'shipshape web health-check run-7' });
    evaluated(await finish(ctx, event()));
    expect(ssm.commandCalls(GetCommandInvocationCommand)).toHaveLength(2);
  });

  it('learns the stack of a console run from the command parameters', async () => {
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'Failed', StatusDetails: 'Undeliverable', StandardOutputContent: '' });
    ssm.on(ListCommandsCommand).resolves({ Commands: [{ Parameters: { Stack: ['batch'] } }] });
    const r = evaluated(await finish(ctx, event('Failed')));
    expect(r.outcome).toMatchObject({ stack: 'batch', runId: 'manual' });
  });

  it('ignores other documents and unfinished invocations without calling AWS', async () => {
    expect(await processInvocationEvent(clients, ctx, event('Success', 'AWS-RunShellScript'))).toMatchObject({ kind: 'ignored' });
    expect(await processInvocationEvent(clients, ctx, event('InProgress'))).toMatchObject({ kind: 'ignored' });
    expect(ssm.calls()).toHaveLength(0);
  });

  it('fails when the event is malformed', async () => {
    for (const bad of [{}, { ...event(), detail: { ...event().detail, 'instance-id': 'i-$(id)' } }, { ...event(), source: 'aws.ec2' }]) {
      await expect(processInvocationEvent(clients, ctx, bad)).rejects.toThrow(InputError);
    }
  });
});

describe('output location', () => {
  it('parses path-style and virtual-hosted S3 URLs', () => {
    expect(parseS3Url('https://s3.eu-central-1.amazonaws.com/b/k/x/stdout')).toEqual({ bucket: 'b', key: 'k/x/stdout' });
    expect(parseS3Url('https://b.s3.amazonaws.com/k/stdout')).toEqual({ bucket: 'b', key: 'k/stdout' });
    expect(parseS3Url('https://b.s3.eu-west-1.amazonaws.com/k')).toEqual({ bucket: 'b', key: 'k' });
    expect(parseS3Url('https://evil.example.com/b/k')).toBeUndefined();
    expect(parseS3Url('not a url')).toBeUndefined();
  });
  it('treats output at the inline limit as truncated', () => {
    expect(looksTruncated('x'.repeat(24_000))).toBe(true);
    expect(looksTruncated('{}')).toBe(false);
  });
});

describe('alert state across runs', () => {
  let run = 0;
  const at = (minutes: number) => Date.parse('2026-11-21T09:00:00Z') + minutes * 60_000;
  async function runWith(result: ReturnType<typeof healthyWebResult> | 'unreachable', minutes: number, commandId?: string) {
    sns.resetHistory();
    ssm.reset();
    const id = commandId ?? `0b9c1a2e-1111-2222-3333-${String(++run).padStart(12, '0')}`;
    if (result === 'unreachable') ssm.on(GetCommandInvocationCommand).resolves({ Status: 'Failed', StatusDetails: 'Undeliverable', StandardOutputContent: '', Comment: 'shipshape web health-check run-7' });
    else invocation(JSON.stringify(result));
    const ev = event(result === 'unreachable' ? 'Failed' : 'Success');
    ev.detail['command-id'] = id;
    return finish({ ...ctx, now: () => at(minutes) }, ev);
  }
  const down = () => { const r = healthyWebResult(); r.containers[0]!.state = 'exited'; return r; };
  const subjects = () => published().map((p) => p.Subject);

  it('alerts once, stays quiet on the next runs, and sends one RESOLVED when fixed', async () => {
    await runWith(down(), 0);
    expect(subjects()).toEqual(['[CRITICAL] demo/web web-1: api not running (exited)']);
    await runWith(down(), 15);
    expect(subjects()).toEqual([]);
    await runWith(healthyWebResult(), 30);
    expect(subjects()).toEqual(['[RESOLVED] demo/web web-1: api not running (exited), down 30 min']);
    expect(published()[0]!.MessageAttributes).toMatchObject({ severity: { StringValue: 'critical' }, kind: { StringValue: 'resolved' } });
    await runWith(healthyWebResult(), 45);
    expect(subjects()).toEqual([]);
  });

  it('ignores a redelivered event instead of alerting twice', async () => {
    const first = await runWith(down(), 0, '0b9c1a2e-1111-2222-3333-999999999999');
    const again = await runWith(down(), 1, '0b9c1a2e-1111-2222-3333-999999999999');
    expect(first.kind).toBe('evaluated');
    expect(again).toMatchObject({ kind: 'ignored', reason: expect.stringMatching(/already processed/) });
    expect(subjects()).toEqual([]);
  });

  it('sends nothing while a silence covers the host, and fires when it ends', async () => {
    await ctx.store.putSilence({ id: 's1', until: at(30), stack: 'web', host: 'i-0123456789abcdef0', reason: 'upgrade' });
    await runWith(down(), 0);
    expect(subjects()).toEqual([]);
    await runWith(down(), 30);
    expect(subjects()).toEqual(['[CRITICAL] demo/web web-1: api not running (exited)']);
  });

  it('keeps other alerts while the host is unreachable, and resolves unreachable when it answers', async () => {
    await runWith(down(), 0);
    await runWith('unreachable', 15);
    expect(subjects()).toEqual(['[CRITICAL] demo/web i-0123456789abcdef0: host not reachable']);
    expect(JSON.parse(JSON.parse(published()[0]!.Message!).sqs).findings[0].check).toBe('host.reachable');
    await runWith(down(), 30);
    // The container alert was already out: only the unreachable alert resolves.
    expect(subjects()).toEqual(['[RESOLVED] demo/web web-1: host not reachable, down 15 min']);
    expect(JSON.parse(JSON.parse(published()[0]!.Message!).sqs).findings.map((f: { check: string }) => f.check)).toEqual(['host.reachable']);
  });

  it('records every evaluated run in the history', async () => {
    await runWith(down(), 0);
    await runWith(healthyWebResult(), 15);
    expect((ctx.store as MemoryStateStore).runs.map((r) => [r.stack, r.status, r.critical, r.notices])).toEqual([['web', 'Success', 1, 1], ['web', 'Success', 0, 1]]);
  });
});

describe('one message for one finding on many hosts', () => {
  const CMD = '0b9c1a2e-1111-2222-3333-aaaaaaaaaaaa';
  const hostEvent = (instance: string) => {
    const ev = event();
    ev.detail['command-id'] = CMD;
    ev.detail['instance-id'] = instance;
    return ev;
  };
  const down = (extra = false) => {
    const r = healthyWebResult();
    r.containers[0]!.state = 'exited';
    if (extra) r.system.memoryPercent = 99;
    return JSON.stringify(r);
  };

  it('groups the same finding across the hosts of a command, and sends the rest per host', async () => {
    // Prepare: three hosts lose the same container; one is also out of memory
    const hosts = ['i-00000000000000001', 'i-00000000000000002', 'i-00000000000000003'];
    for (const [i, h] of hosts.entries()) {
      ssm.reset();
      invocation(down(i === 2));
      await processInvocationEvent(clients, ctx, hostEvent(h));
    }
    expect(published()).toEqual([]);
    // Act: the command finishes
    const r = await processCommandEvent(clients, ctx, commandEvent(CMD));
    // Assess
    expect(r).toEqual({ kind: 'flushed', alerts: 2 });
    expect(published().map((p) => p.Subject)).toEqual([
      '[CRITICAL] demo/web 3 hosts: api not running (exited)',
      '[CRITICAL] demo/web web-1: memory at 99%',
    ]);
    const grouped = JSON.parse(JSON.parse(published()[0]!.Message!).sqs);
    expect(grouped.hosts.map((h: { host: string }) => h.host)).toEqual(hosts);
    expect(JSON.parse(published()[0]!.Message!).email).toContain('Hosts:\n  web-1 (i-00000000000000001)');
  });

  it('sends a host that finishes after its command at once', async () => {
    await processCommandEvent(clients, ctx, commandEvent(CMD));
    invocation(down());
    const r = await processInvocationEvent(clients, ctx, hostEvent('i-00000000000000004'));
    expect(r).toMatchObject({ kind: 'evaluated', alerts: 1 });
    expect(published().map((p) => p.Subject)).toEqual(['[CRITICAL] demo/web web-1: api not running (exited)']);
  });

  it('keeps the parked notices when sending fails, so the retry sends them', async () => {
    invocation(down());
    await processInvocationEvent(clients, ctx, hostEvent('i-00000000000000001'));
    sns.on(PublishCommand).rejectsOnce(new Error('SNS is down')).resolves({ MessageId: 'm-2' });
    await expect(processCommandEvent(clients, ctx, commandEvent(CMD))).rejects.toThrow(/SNS is down/);
    await expect(processCommandEvent(clients, ctx, commandEvent(CMD))).resolves.toEqual({ kind: 'flushed', alerts: 1 });
  });

  it('sends again only what was not sent when SNS fails half-way', async () => {
    // Prepare: a critical and a warning message for one host; the second publish fails once
    const result = healthyWebResult();
    result.containers[0]!.state = 'exited';
    result.probes[1] = { ...result.probes[1]!, latencyMs: 2000 };
    invocation(JSON.stringify(result));
    await processInvocationEvent(clients, ctx, hostEvent('i-00000000000000001'));
    sns.on(PublishCommand).resolvesOnce({ MessageId: 'm-1' }).rejectsOnce(new Error('SNS is down')).resolves({ MessageId: 'm-3' });
    // Act
    await expect(processCommandEvent(clients, ctx, commandEvent(CMD))).rejects.toThrow(/SNS is down/);
    await processCommandEvent(clients, ctx, commandEvent(CMD));
    // Assess: critical once, warning attempted twice (failed, then sent)
    const severities = published().map((p) => p.MessageAttributes!.severity!.StringValue);
    expect(severities).toEqual(['critical', 'warning', 'warning']);
  });

  it('ignores commands of other documents and commands still running', async () => {
    expect(await processCommandEvent(clients, ctx, { ...commandEvent(CMD), detail: { ...commandEvent(CMD).detail, 'document-name': 'AWS-RunShellScript' } })).toEqual({ kind: 'ignored', alerts: 0 });
    expect(await processCommandEvent(clients, ctx, commandEvent(CMD, 'InProgress'))).toEqual({ kind: 'ignored', alerts: 0 });
  });
});

describe('guarded auto-remediation', () => {
  const remediating = demoFleet((f) => {
    f.stacks[0]!.services[0]!.remediation = { restart: true, maxRestarts: 2, windowMinutes: 60, backoffMinutes: 5 };
  });
  const at = (minutes: number) => Date.parse('2026-11-21T09:00:00Z') + minutes * 60_000;
  let n = 0;
  async function check(minutes: number, tweak: (r: ReturnType<typeof healthyWebResult>) => void = () => {}) {
    sns.resetHistory();
    ssm.reset();
    const r = healthyWebResult();
    r.containers[0]!.state = 'exited';
    tweak(r);
    invocation(JSON.stringify(r));
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'restart-cmd' } });
    const ev = event();
    ev.detail['command-id'] = `0b9c1a2e-1111-2222-3333-${String(++n).padStart(12, '0')}`;
    const c = { ...ctx, fleet: remediating, documents: { ...ctx.documents, restart: 'RestartDoc' }, outputBucket: 'out', now: () => at(minutes) };
    return finish(c, ev);
  }
  const restarts = () => ssm.commandCalls(SendCommandCommand).map((call) => call.args[0].input);

  it('restarts a container that never recovers at most K times, then alerts that it gave up', async () => {
    await check(0);
    expect(restarts()).toEqual([expect.objectContaining({ DocumentName: 'RestartDoc', InstanceIds: ['i-0123456789abcdef0'], Parameters: expect.objectContaining({ Services: ['api'] }), OutputS3BucketName: 'out' })]);
    await check(2);
    expect(restarts()).toEqual([]);
    await check(5);
    expect(restarts()).toHaveLength(1);
    const gaveUp = await check(20);
    expect(restarts()).toEqual([]);
    expect(published().map((p) => p.Subject)).toEqual(['[CRITICAL] demo/web web-1: api still failing after automatic restarts']);
    expect(JSON.parse(JSON.parse(published()[0]!.Message!).sqs).findings[0]).toMatchObject({ check: 'remediation.exhausted', target: 'api' });
    expect(gaveUp.kind === 'evaluated' && gaveUp.outcome.findings.some((f) => f.check === 'remediation.exhausted')).toBe(true);
    expect((ctx.store as MemoryStateStore).runs.map((r) => r.actions)).toEqual([['restart api (attempt 1)'], [expect.stringMatching(/^not restarting api: next restart allowed/)], ['restart api (attempt 2)'], ['not restarting api: cap reached']]);
  });

  it('leaves the stack alone while a backup runs or the host is silenced', async () => {
    await check(0, (r) => (r.busy = 'backup'));
    expect(restarts()).toEqual([]);
    await ctx.store.putSilence({ id: 's', until: at(60), host: 'i-0123456789abcdef0', reason: 'maintenance' });
    await check(10);
    expect(restarts()).toEqual([]);
  });
});

describe('links to console runbooks', () => {
  it('offers restart, check-now and silence for a failing service, and no actions in RESOLVED', async () => {
    const runbooks = { 'restart-service': 'Restart-Doc', 'health-check-now': 'HC-Doc', silence: 'Silence-Doc' };
    const r = healthyWebResult();
    r.containers[0]!.state = 'exited';
    invocation(JSON.stringify(r));
    await finish({ ...ctx, runbooks }, event());
    const body = JSON.parse(published()[0]!.Message!);
    expect(body.email).toContain('What you can do:\n  Restart the service: https://eu-central-1.console.aws.amazon.com/systems-manager/automation/execute/Restart-Doc?region=eu-central-1');
    expect(body.email).toContain('Check again now: https://eu-central-1.console.aws.amazon.com/systems-manager/automation/execute/HC-Doc?region=eu-central-1');
    expect(body.email).toContain('Silence it for a while: https://eu-central-1.console.aws.amazon.com/systems-manager/automation/execute/Silence-Doc?region=eu-central-1');
    expect(JSON.parse(body.sqs).actions).toHaveLength(3);
  });
});
