/** The thin handlers: environment and bundled config at cold start, bad events answered, not retried. */
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { GetCommandInvocationCommand, SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { BatchWriteCommand, DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoDBClient, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { demoFleet } from '../../support/fleets.js';
import { healthyWebResult } from '../../support/results.js';

const ssm = mockClient(SSMClient);
const dynamo = mockClient(DynamoDBDocumentClient);
const sns = mockClient(SNSClient);

beforeAll(() => {
  // Files share worker processes (vitest.config.ts): the handler modules, which read the environment
  // and start Powertools at import, are evaluated afresh here and not left behind for the next file.
  vi.resetModules();
  vi.stubEnv('SHIPSHAPE_FLEET', JSON.stringify(demoFleet()));
  vi.stubEnv('SHIPSHAPE_FLEET_NAME', 'demo');
  vi.stubEnv('SHIPSHAPE_DOCUMENTS', JSON.stringify({ 'health-check': 'HealthDoc' }));
  vi.stubEnv('SHIPSHAPE_OUTPUT_BUCKET', 'out-bucket');
  vi.stubEnv('SHIPSHAPE_STATE_TABLE', 'state-table');
  vi.stubEnv('SHIPSHAPE_ALERT_TOPIC_ARN', 'arn:aws:sns:us-east-1:111122223333:alerts');
  vi.stubEnv('AWS_REGION', 'us-east-1');
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
});
afterAll(() => {
  vi.unstubAllEnvs();
  vi.resetModules();
});

describe('dispatcher handler', () => {
  it('dispatches a schedule payload and answers a malformed one without throwing', async () => {
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'c-1' } });
    dynamo.on(QueryCommand).resolves({ Items: [] });
    dynamo.on(PutCommand).resolves({});
    const { handler } = await import('../../../lambdas/dispatcher/handler.js');
    // What EventBridge Scheduler sends: the schedule key and the scheduled time.
    await expect(handler({ trigger: 'schedule', schedule: 'cron(*/15 * * * ? *)@UTC', scheduledTime: '2026-11-22T10:15:00Z' })).resolves.toMatchObject([{ runbook: 'health-check', stack: 'web', commandIds: ['c-1'] }]);
    const recorded = dynamo.commandCalls(PutCommand).map((c) => c.args[0].input.Item!).find((i) => i.pk === 'DISPATCH#web')!;
    expect(recorded).toMatchObject({ sk: 'health-check', commandIds: ['c-1'], targets: 'tag Role=web' });
    await expect(handler({ runbook: 'health-check', stack: '$(id)' })).resolves.toMatchObject({ rejected: expect.stringMatching(/invalid dispatch event/) });
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(1);
  });
});

describe('result handler', () => {
  it('evaluates a finished invocation and answers a malformed event without throwing', async () => {
    const r = healthyWebResult();
    r.containers[0]!.state = 'exited';
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'Success', StatusDetails: 'Success', StandardOutputContent: JSON.stringify(r), Comment: 'shipshape demo/web health-check run-1' });
    sns.on(PublishCommand).resolves({ MessageId: 'm' });
    dynamo.on(QueryCommand).resolves({ Items: [] });
    dynamo.on(BatchWriteCommand).resolves({});
    dynamo.on(PutCommand).resolves({});
    dynamo.on(GetCommand).resolves({});
    // The idempotency records (Powertools, raw DynamoDB client): in progress, then completed.
    const idempotency = mockClient(DynamoDBClient);
    idempotency.on(PutItemCommand).resolves({});
    idempotency.on(UpdateItemCommand).resolves({});
    const { handler } = await import('../../../lambdas/result/handler.js');
    const event = { source: 'aws.ssm', 'detail-type': 'EC2 Command Invocation Status-change Notification', detail: { 'command-id': '0b9c1a2e-1111-2222-3333-444455556666', 'document-name': 'HealthDoc', 'instance-id': 'i-0123456789abcdef0', status: 'Success' } };
    await expect(handler(event)).resolves.toMatchObject({ kind: 'evaluated', alerts: 0, critical: 1 });
    const saved = dynamo.commandCalls(BatchWriteCommand)[0]!.args[0].input.RequestItems!['state-table']!;
    expect(saved.map((w) => w.PutRequest?.Item?.sk)).toEqual(['health-check#container.state#api (web-api-1)']);
    const parked = dynamo.commandCalls(PutCommand).map((c) => c.args[0].input.Item!).find((i) => String(i.pk).startsWith('OUTBOX#'))!;
    dynamo.on(QueryCommand, { KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': parked.pk } }).resolves({ Items: [parked] });
    dynamo.on(DeleteCommand).resolves({});
    const done = { source: 'aws.ssm', 'detail-type': 'EC2 Command Status-change Notification', detail: { 'command-id': event.detail['command-id'], 'document-name': 'HealthDoc', status: 'Success' } };
    await expect(handler(done)).resolves.toMatchObject({ kind: 'flushed', alerts: 1 });
    expect(sns.commandCalls(PublishCommand)).toHaveLength(1);
    await expect(handler({ source: 'aws.ssm' })).resolves.toMatchObject({ rejected: expect.stringMatching(/invalid invocation status event/) });
  });

  it('fails at cold start when the environment is incomplete', async () => {
    vi.resetModules();
    vi.stubEnv('SHIPSHAPE_DOCUMENTS', 'not json');
    await expect(import('../../../lambdas/result/handler.js')).rejects.toThrow(/SHIPSHAPE_DOCUMENTS: must be a JSON object/);
    vi.stubEnv('SHIPSHAPE_DOCUMENTS', JSON.stringify({ 'health-check': 'HealthDoc' }));
  });
});
