/**
 * Runs around every file of the 'shared' project (vitest.config.ts), whose files take turns in
 * one worker process. aws-sdk-client-mock's mockClient(SomeClient) stubs the class prototype's
 * send and a file may leave it stubbed; the next file in the same process would then talk to that
 * stub instead of s3rver or dynalite. Every stub is restored when a file ends.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll } from 'vitest';

const CLIENTS = [DynamoDBClient, DynamoDBDocumentClient, S3Client, SecretsManagerClient, SNSClient, SSMClient];

afterAll(() => {
  for (const client of CLIENTS) {
    const send = Object.getOwnPropertyDescriptor(client.prototype, 'send')?.value as { restore?: () => void } | undefined;
    if (typeof send?.restore === 'function') send.restore();
  }
});
