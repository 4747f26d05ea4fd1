/** The rotation function goes through the shared wrapper: Lambda context on its log lines, failures thrown. */
import { DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { demoFleet } from '../../support/fleets.js';

const sm = mockClient(SecretsManagerClient);
const context = { functionName: 'shipshape-demo-rotation', functionVersion: '$LATEST', invokedFunctionArn: 'arn:aws:lambda:us-east-1:111122223333:function:shipshape-demo-rotation',
  memoryLimitInMB: '256', awsRequestId: 'rot-req-1', logGroupName: 'g', logStreamName: 's' } as Context;

beforeAll(() => {
  vi.stubEnv('SHIPSHAPE_FLEET', JSON.stringify(demoFleet()));
  vi.stubEnv('SHIPSHAPE_FLEET_NAME', 'demo');
  vi.stubEnv('SHIPSHAPE_DOCUMENTS', JSON.stringify({ 'apply-secret': 'ApplyDoc', 'health-check': 'HealthDoc' }));
  vi.stubEnv('SHIPSHAPE_OUTPUT_BUCKET', 'out-bucket');
  vi.stubEnv('SHIPSHAPE_ALERT_TOPIC_ARN', 'arn:aws:sns:us-east-1:111122223333:alerts');
  vi.stubEnv('AWS_REGION', 'us-east-1');
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'INFO');
});
afterAll(() => vi.unstubAllEnvs());

describe('rotation handler', () => {
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
