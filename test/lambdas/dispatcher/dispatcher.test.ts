import { SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { buildCommands, dispatch, DispatchEvent, MAX_IDS_PER_CALL, newRunId } from '../../../lambdas/dispatcher/dispatch.js';
import { parseCommandComment } from '../../../lambdas/shared/command-comment.js';
import { InputError, parseOrThrow } from '../../../lambdas/shared/errors.js';
import { demoFleet } from '../../support/fleets.js';

const ssm = mockClient(SSMClient);
const documents = { 'health-check': 'Shipshape-HealthCheck-ABC' };
const noSleep = { sleep: async () => {}, random: () => 0.5 };
const throttle = () => Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } });

beforeEach(() => ssm.reset());

describe('dispatch', () => {
  it('sends one command for a tag-selected stack, limited to the fleet tag, with rate controls and S3 output', async () => {
    // Prepare
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
    const fleet = demoFleet();
    // Act
    const r = await dispatch(new SSMClient({}), { fleet, documents, outputBucket: 'out-bucket', backoff: noSleep }, { runbook: 'health-check', stack: 'web', trigger: 'schedule', runId: 'run-1' });
    // Assess
    expect(r).toMatchObject({ runId: 'run-1', commandIds: ['cmd-1'], calls: 1, throttled: 0 });
    const input = ssm.commandCalls(SendCommandCommand)[0]!.args[0].input;
    expect(input).toEqual({
      DocumentName: 'Shipshape-HealthCheck-ABC',
      Targets: [{ Key: 'tag:shipshape:fleet', Values: ['demo'] }, { Key: 'tag:Role', Values: ['web'] }],
      Parameters: { Stack: ['web'], RunId: ['run-1'], ExecutionTimeout: ['300'] },
      MaxConcurrency: '10%',
      MaxErrors: '25%',
      TimeoutSeconds: 600,
      Comment: 'shipshape demo/web health-check run-1',
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
    const r = await dispatch(new SSMClient({}), { fleet, documents, outputBucket: 'b', backoff: noSleep }, { runbook: 'health-check', stack: 'batch', trigger: 'schedule' });
    // Assess
    const calls = ssm.commandCalls(SendCommandCommand).map((c) => c.args[0].input.InstanceIds!);
    expect(calls.map((c) => c.length)).toEqual([MAX_IDS_PER_CALL, MAX_IDS_PER_CALL, 20]);
    expect(calls.flat()).toEqual(ids);
    expect(r.commandIds).toEqual(['cmd-1', 'cmd-2', 'cmd-3']);
  });

  it('retries throttling with jittered, growing delays and then succeeds', async () => {
    // Prepare
    ssm.on(SendCommandCommand).rejectsOnce(throttle()).rejectsOnce(throttle()).resolves({ Command: { CommandId: 'cmd-1' } });
    const delays: number[] = [];
    // Act
    const r = await dispatch(new SSMClient({}), {
      fleet: demoFleet(), documents, outputBucket: 'b',
      backoff: { sleep: async (ms) => { delays.push(ms); }, random: () => 0.5, baseMs: 100 },
    }, { runbook: 'health-check', stack: 'web', trigger: 'manual' });
    // Assess
    expect(r).toMatchObject({ calls: 3, throttled: 2, commandIds: ['cmd-1'] });
    expect(delays).toEqual([50, 100]);
  });

  it('fails when throttling outlasts its attempts, after a bounded number of calls', async () => {
    ssm.on(SendCommandCommand).rejects(throttle());
    await expect(dispatch(new SSMClient({}), { fleet: demoFleet(), documents, outputBucket: 'b', backoff: { ...noSleep, attempts: 4 } }, { runbook: 'health-check', stack: 'web', trigger: 'manual' }))
      .rejects.toThrow(/Rate exceeded/);
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(4);
  });

  it('fails at once on errors that retrying cannot fix', async () => {
    ssm.on(SendCommandCommand).rejects(Object.assign(new Error('no such document'), { name: 'InvalidDocument', $metadata: { httpStatusCode: 400 } }));
    await expect(dispatch(new SSMClient({}), { fleet: demoFleet(), documents, outputBucket: 'b', backoff: noSleep }, { runbook: 'health-check', stack: 'web', trigger: 'manual' }))
      .rejects.toThrow(/no such document/);
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(1);
  });

  it('fails when the stack or runbook is unknown, naming what exists, and sends nothing', () => {
    const ctx = { fleet: demoFleet(), documents, outputBucket: 'b' };
    expect(() => buildCommands(ctx, { runbook: 'health-check', stack: 'nope', trigger: 'manual' }, 'r')).toThrow(/unknown stack "nope".*web, batch/);
    expect(() => buildCommands(ctx, { runbook: 'backup', stack: 'web', trigger: 'manual' }, 'r')).toThrow(/unknown runbook "backup".*health-check/);
  });

  it('fails when the event payload is malformed', () => {
    for (const bad of [{}, { runbook: 'health-check' }, { runbook: 'health-check', stack: 'web; rm -rf /' }, { runbook: 'health-check', stack: 'web', extra: 1 }, { runbook: 'health-check', stack: 'web', runId: 'a b' }]) {
      expect(() => parseOrThrow(DispatchEvent, bad, 'dispatch event')).toThrow(InputError);
    }
  });

  it('makes run IDs that pass the document allowedPattern', () => {
    const id = newRunId('health-check', 'a-very-long-stack-name-that-goes-on-and-on', new Date('2026-11-21T09:00:00.123Z'), () => 0.999);
    expect(id).toMatch(/^[A-Za-z0-9-]{1,64}$/);
    expect(id.startsWith('health-check-a-very-long-stack-name')).toBe(true);
  });
});
