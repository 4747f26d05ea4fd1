/** The rotation function goes through the shared wrapper: Lambda context on its log lines, failures thrown. */
import { DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ListCommandsCommand, SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { demoFleet } from '../../support/fleets.js';

const sm = mockClient(SecretsManagerClient);
const ssm = mockClient(SSMClient);
const context = { functionName: 'shipshape-demo-rotation', functionVersion: '$LATEST', invokedFunctionArn: 'arn:aws:lambda:us-east-1:111122223333:function:shipshape-demo-rotation',
  memoryLimitInMB: '256', awsRequestId: 'rot-req-1', logGroupName: 'g', logStreamName: 's' } as Context;

beforeAll(() => {
  // Files share worker processes (vitest.config.ts): the handler modules, which read the environment
  // and start Powertools at import, are evaluated afresh here and not left behind for the next file.
  vi.resetModules();
  vi.stubEnv('SHIPSHAPE_FLEET', JSON.stringify(demoFleet((f) => { f.stacks[0]!.secrets = [{ name: 'jwt', envFile: '/opt/web/.env', variable: 'JWT_SECRET', restart: ['api'] }]; })));
  vi.stubEnv('SHIPSHAPE_FLEET_NAME', 'demo');
  vi.stubEnv('SHIPSHAPE_DOCUMENTS', JSON.stringify({ 'apply-secret': 'ApplyDoc', 'health-check': 'HealthDoc' }));
  vi.stubEnv('SHIPSHAPE_OUTPUT_BUCKET', 'out-bucket');
  vi.stubEnv('SHIPSHAPE_ALERT_TOPIC_ARN', 'arn:aws:sns:us-east-1:111122223333:alerts');
  vi.stubEnv('AWS_REGION', 'us-east-1');
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'INFO');
});
afterAll(() => {
  vi.unstubAllEnvs();
  vi.resetModules();
});

function capture() {
  const lines: string[] = [];
  const collect = (chunk: string | Uint8Array) => { lines.push(String(chunk)); return true; };
  const spies = [vi.spyOn(process.stdout, 'write').mockImplementation(collect), vi.spyOn(process.stderr, 'write').mockImplementation(collect)];
  return { lines, restore: () => { for (const spy of spies) spy.mockRestore(); } };
}

describe('rotation handler', () => {
  it('fails a step that cannot finish in the time left with StepNotFinished, sending nothing, logged as resumable', async () => {
    // Prepare: the invocation has 10 s left, less than the step keeps in reserve
    const ARN = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:shipshape/demo/web/jwt-AbCdEf';
    const TOKEN = 'v-new-1111-1111-1111-111111111111';
    sm.on(DescribeSecretCommand).resolves({ ARN, Name: 'shipshape/demo/web/jwt', RotationEnabled: true, VersionIdsToStages: { 'v-old-0000-0000-0000-000000000000': ['AWSCURRENT'], [TOKEN]: ['AWSPENDING'] } });
    ssm.on(ListCommandsCommand).resolves({ Commands: [] });
    const out = capture();
    const { handler } = await import('../../../lambdas/rotation/handler.js');
    // Act
    const outcome = await handler({ SecretId: ARN, ClientRequestToken: TOKEN, Step: 'setSecret' }, { ...context, getRemainingTimeInMillis: () => 10_000 }).catch((err: Error) => err);
    out.restore();
    // Assess
    expect(outcome).toMatchObject({ name: 'StepNotFinished', message: expect.stringContaining('0 of 1 commands sent before this invocation ran out of time') });
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(0);
    const resumed = out.lines.flatMap((l) => l.split('\n')).filter((l) => l.includes('continues in the next invocation')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(resumed).toEqual([expect.objectContaining({ level: 'WARN', step: 'setSecret', function_request_id: 'rot-req-1' })]);
    expect(out.lines.join('')).toContain('"RotationStepsResumed":1');
    expect(out.lines.join('')).not.toContain('"RotationFailures"');
  });

  it('fails when a rotation step fails: thrown to Secrets Manager, logged with the request ID', async () => {
    // Prepare
    sm.on(DescribeSecretCommand).rejects(new Error('AccessDeniedException: not allowed'));
    const lines: string[] = [];
    const collect = (chunk: string | Uint8Array) => { lines.push(String(chunk)); return true; };
    const spies = [vi.spyOn(process.stdout, 'write').mockImplementation(collect), vi.spyOn(process.stderr, 'write').mockImplementation(collect)];
    const { handler } = await import('../../../lambdas/rotation/handler.js');
    // Act
    const outcome = await handler({ SecretId: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:shipshape/demo/web/jwt-AbCdEf', ClientRequestToken: 't-1', Step: 'createSecret' }, context).catch((err: Error) => err);
    for (const spy of spies) spy.mockRestore();
    // Assess
    expect(outcome).toBeInstanceOf(Error);
    const failed = lines.flatMap((l) => l.split('\n')).filter((l) => l.includes('secret operation failed')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(failed).toEqual([expect.objectContaining({ function_request_id: 'rot-req-1', function_name: 'shipshape-demo-rotation', step: 'createSecret' })]);
    expect(lines.join('')).toContain('"RotationFailures":1');
  });
});
