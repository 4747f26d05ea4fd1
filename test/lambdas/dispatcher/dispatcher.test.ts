import { SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { buildCommands, dispatch, DispatchEvent, MAX_IDS_PER_CALL, newRunId, scheduledRunId } from '../../../lambdas/dispatcher/dispatch.js';
import { RUN_ID } from '../../../lib/config/patterns.js';
import { MemoryStateStore } from '../../support/memory-store.js';
import { commandComment, parseCommandComment } from '../../../lambdas/shared/command-comment.js';
import { InputError, parseOrThrow } from '../../../lambdas/shared/errors.js';
import { demoFleet } from '../../support/fleets.js';

const ssm = mockClient(SSMClient);
const documents = { 'health-check': 'Shipshape-HealthCheck-ABC' };

beforeEach(() => ssm.reset());

describe('dispatch', () => {
  it('sends one command for a tag-selected stack, limited to the fleet tag, with rate controls and S3 output', async () => {
    // Prepare
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
    const fleet = demoFleet();
    // Act
    const r = await dispatch(new SSMClient({}), { fleet, documents, outputBucket: 'out-bucket' }, { runbook: 'health-check', stack: 'web', trigger: 'schedule', runId: 'run-1' });
    // Assess
    expect(r).toMatchObject([{ runId: 'run-1', commandIds: ['cmd-1'], calls: 1 }]);
    const input = ssm.commandCalls(SendCommandCommand)[0]!.args[0].input;
    expect(input).toEqual({
      DocumentName: 'Shipshape-HealthCheck-ABC',
      Targets: [{ Key: 'tag:shipshape:fleet', Values: ['demo'] }, { Key: 'tag:Role', Values: ['web'] }],
      Parameters: { Stack: ['web'], RunId: ['run-1'], ExecutionTimeout: ['300'] },
      MaxConcurrency: '10%',
      MaxErrors: '25%',
      TimeoutSeconds: 600,
      Comment: 'shipshape web health-check run-1',
      OutputS3BucketName: 'out-bucket',
      OutputS3KeyPrefix: 'command-output/health-check/web',
    });
    expect(parseCommandComment(input.Comment)).toEqual({ stack: 'web', runbook: 'health-check', runId: 'run-1' });
  });

  it('sends one command per 50 instance IDs, never one per host', async () => {
    // Prepare
    const ids = Array.from({ length: 120 }, (_, i) => `i-${i.toString(16).padStart(17, '0')}`);
    const fleet = demoFleet((f) => (f.stacks[1]!.hosts = { instanceIds: ids }));
    let n = 0;
    ssm.on(SendCommandCommand).callsFake(async () => ({ Command: { CommandId: `cmd-${++n}` } }));
    // Act
    const r = await dispatch(new SSMClient({}), { fleet, documents, outputBucket: 'b' }, { runbook: 'health-check', stack: 'batch', trigger: 'schedule' });
    // Assess
    const calls = ssm.commandCalls(SendCommandCommand).map((c) => c.args[0].input.InstanceIds!);
    expect(calls.map((c) => c.length)).toEqual([MAX_IDS_PER_CALL, MAX_IDS_PER_CALL, 20]);
    expect(calls.flat()).toEqual(ids);
    expect(r[0]!.commandIds).toEqual(['cmd-1', 'cmd-2', 'cmd-3']);
  });

  it('fails at once on errors that retrying cannot fix, and sends nothing more', async () => {
    ssm.on(SendCommandCommand).rejects(Object.assign(new Error('no such document'), { name: 'InvalidDocument', $metadata: { httpStatusCode: 400 } }));
    await expect(dispatch(new SSMClient({}), { fleet: demoFleet(), documents, outputBucket: 'b' }, { runbook: 'health-check', stack: 'web', trigger: 'manual' }))
      .rejects.toThrow(/no such document/);
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(1);
  });

  it('fails when the stack or runbook is unknown, and sends nothing', () => {
    const ctx = { fleet: demoFleet(), documents, outputBucket: 'b' };
    expect(() => buildCommands(ctx, { runbook: 'health-check', stack: 'nope' }, 'r')).toThrow(/unknown stack "nope"/);
    expect(() => buildCommands(ctx, { runbook: 'backup', stack: 'web' }, 'r')).toThrow(/unknown runbook "backup".*health-check/);
  });

  it('fails when the event payload is malformed', () => {
    for (const bad of [{}, { runbook: 'health-check' }, { runbook: 'health-check', stack: 'web; rm -rf /' }, { runbook: 'health-check', stack: 'web', extra: 1 }, { runbook: 'health-check', stack: 'web', runId: 'a b' },
      { trigger: 'schedule' }, { trigger: 'schedule', schedule: 'x', scheduledTime: 'yesterday' }, { trigger: 'schedule', schedule: 'x', runbook: 'backup' }]) {
      expect(() => parseOrThrow(DispatchEvent, bad, 'dispatch event'), JSON.stringify(bad)).toThrow(InputError);
    }
  });

  it('makes run IDs that pass the document allowedPattern and fit the command comment', () => {
    const id = newRunId(new Date('2026-11-21T09:00:00.123Z'), () => 0.999);
    expect(id).toMatch(RUN_ID);
    expect(id.startsWith('20261121T090000Z-')).toBe(true);
    expect(commandComment('s'.repeat(40), 'apply-secret', 'e'.repeat(36)).length).toBe(100);
    expect(() => commandComment('s'.repeat(40), 'apply-secret', 'e'.repeat(37))).toThrow(/over SendCommand's 100/);
  });
});

describe('dispatch of a schedule', () => {
  const sharing = () => demoFleet((f) => {
    f.stacks.push({ ...f.stacks[0]!, name: 'web-two', hosts: { tag: { key: 'Role', value: 'web-two' } } });
    f.stacks[0]!.backup = { volumes: [{ name: 'v' }] };
  });
  const ctxFor = (store = new MemoryStateStore()) => ({ fleet: sharing(), documents: { 'health-check': 'HC', backup: 'BK', drill: 'DR' }, outputBucket: 'b', store });
  const every15 = { trigger: 'schedule' as const, schedule: 'cron(*/15 * * * ? *)@UTC', scheduledTime: '2026-11-22T10:15:00Z' };

  it('sends every run that shares the schedule, one command per stack, and records each dispatch', async () => {
    // Prepare
    let n = 0;
    ssm.on(SendCommandCommand).callsFake(async () => ({ Command: { CommandId: `cmd-${++n}` } }));
    const ctx = ctxFor();
    // Act
    const results = await dispatch(new SSMClient({}), ctx, every15);
    // Assess
    expect(results.map((r) => [r.runbook, r.stack])).toEqual([['health-check', 'web'], ['health-check', 'web-two']]);
    const inputs = ssm.commandCalls(SendCommandCommand).map((c) => c.args[0].input);
    expect(inputs.map((i) => i.Parameters!.Stack)).toEqual([['web'], ['web-two']]);
    expect((await ctx.store.lastDispatches('web'))['health-check']).toMatchObject({ runId: results[0]!.runId, commandIds: ['cmd-1'], targets: 'tag Role=web' });
  });

  it('skips runs already sent when the same scheduled time is delivered again', async () => {
    // Prepare
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd' } });
    const ctx = ctxFor();
    await dispatch(new SSMClient({}), ctx, every15);
    // Act
    const again = await dispatch(new SSMClient({}), ctx, every15);
    // Assess
    expect(again.every((r) => r.skipped)).toBe(true);
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(2);
    const next = await dispatch(new SSMClient({}), ctx, { ...every15, scheduledTime: '2026-11-22T10:30:00Z' });
    expect(next.some((r) => r.skipped)).toBe(false);
  });

  it('keeps sending the other stacks when one fails, and reports which', async () => {
    // Prepare
    ssm.on(SendCommandCommand).callsFake(async (input: { Parameters: { Stack: string[] } }) => {
      if (input.Parameters.Stack[0] === 'web') throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
      return { Command: { CommandId: 'ok' } };
    });
    // Act
    const results = await dispatch(new SSMClient({}), ctxFor(), every15);
    // Assess
    expect(results.map((r) => [r.stack, r.error ?? 'sent'])).toEqual([['web', 'ThrottlingException: Rate exceeded'], ['web-two', 'sent']]);
  });

  it('fails when no runbook of the fleet runs on the named schedule, and sends nothing', async () => {
    await expect(dispatch(new SSMClient({}), ctxFor(), { trigger: 'schedule', schedule: 'cron(1 2 3 * ? *)@UTC' })).rejects.toThrow(/no runbook of this fleet runs on schedule/);
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(0);
  });

  it('gives a scheduled run the same ID on every delivery, and another for another stack', () => {
    const t = new Date('2026-11-22T10:15:00Z');
    expect(scheduledRunId('backup', 'web', t)).toBe(scheduledRunId('backup', 'web', new Date(t)));
    expect(scheduledRunId('backup', 'web', t)).not.toBe(scheduledRunId('backup', 'web-two', t));
    expect(scheduledRunId('backup', 'web', t)).toMatch(RUN_ID);
  });
});

describe('dispatch after a deploy', () => {
  it('runs the runbook on every stack once per deploy, and skips it on a redelivered event', async () => {
    // Prepare
    let n = 0;
    ssm.on(SendCommandCommand).callsFake(async () => ({ Command: { CommandId: `cmd-${++n}` } }));
    const store = new MemoryStateStore();
    const ctx = { fleet: demoFleet(), documents: { preflight: 'PF' }, outputBucket: 'b', store };
    const event = { trigger: 'deploy' as const, runbook: 'preflight', deployId: '0123456789abcdef' };
    // Act
    const first = await dispatch(new SSMClient({}), ctx, event);
    const again = await dispatch(new SSMClient({}), ctx, event);
    // Assess
    expect(first.map((r) => [r.stack, r.commandIds.length])).toEqual([['web', 1], ['batch', 1]]);
    for (const r of first) expect(r.runId).toMatch(RUN_ID);
    expect(again.every((r) => r.skipped)).toBe(true);
    expect(ssm.commandCalls(SendCommandCommand).map((c) => c.args[0].input.DocumentName)).toEqual(['PF', 'PF']);
  });

  it('fails when the runbook has no document in this fleet, and sends nothing', async () => {
    await expect(dispatch(new SSMClient({}), { fleet: demoFleet(), documents: {}, outputBucket: 'b' }, { trigger: 'deploy', runbook: 'preflight', deployId: '0123456789abcdef' })).rejects.toThrow(/unknown runbook "preflight"/);
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(0);
  });
});
