/** The notifier's thin handler: cold start from the bundled fleet, bad input answered, failed deliveries thrown for Lambda's retry. */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { demoFleet } from '../../support/fleets.js';

const sm = mockClient(SecretsManagerClient);
const dynamo = mockClient(DynamoDBDocumentClient);
const fleet = demoFleet((f) => {
  f.alerts!.recipients = [{ slack: { secretArn: 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:slack-AbCdEf' } }];
});

beforeAll(() => {
  // Files share worker processes (vitest.config.ts): the handler modules, which read the environment
  // and start Powertools at import, are evaluated afresh here and not left behind for the next file.
  vi.resetModules();
  vi.stubEnv('SHIPSHAPE_FLEET', JSON.stringify(fleet));
  vi.stubEnv('SHIPSHAPE_STATE_TABLE', 'state-table');
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
});
afterAll(() => {
  vi.unstubAllEnvs();
  vi.resetModules();
});

describe('notifier handler', () => {
  it('ignores what is not an alert, answers a malformed event, and throws when a receiver fails', async () => {
    // Prepare: the secret is not an https URL, so the Slack delivery fails without any network
    sm.on(GetSecretValueCommand).resolves({ SecretString: 'http://127.0.0.1:9/not-https' });
    dynamo.on(GetCommand).resolves({});
    dynamo.on(PutCommand).resolves({});
    const { handler } = await import('../../../lambdas/notifier/handler.js');
    const alert = { kind: 'firing', severity: 'critical', fleet: 'demo', stack: 'web', subject: '[CRITICAL] demo/web web-1: api down', findings: [] };
    // Act / Assess
    await expect(handler({ Records: [{ Sns: { MessageId: 'a', Message: 'plain text' } }] })).resolves.toEqual({ sent: 0, skipped: 0, ignored: 1 });
    await expect(handler({ Records: [] })).resolves.toMatchObject({ rejected: expect.stringMatching(/invalid SNS event/) });
    await expect(handler({ Records: [{ Sns: { MessageId: 'b', Message: JSON.stringify(alert), MessageAttributes: { severity: { Type: 'String', Value: 'critical' } } } }] }))
      .rejects.toThrow(/delivery failed for recipients\[0\] \(slack\)/);
    expect(dynamo.commandCalls(PutCommand)).toHaveLength(0);
  });
});
