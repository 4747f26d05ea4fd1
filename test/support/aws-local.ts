/**
 * Local AWS stand-ins on loopback: s3rver for S3 (it accepts only the S3RVER key pair)
 * and fauxqs for SNS and SQS.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
// @ts-expect-error s3rver ships no types
import S3rver from 's3rver';
import { startFauxqs } from 'fauxqs';

export const REGION = 'us-east-1';

export async function startS3(buckets: string[]): Promise<{ client: S3Client; endpoint: string; stop: () => Promise<void> }> {
  const directory = mkdtempSync(join(tmpdir(), 's3rver-'));
  const server = new S3rver({ port: 0, address: '127.0.0.1', directory, silent: true, configureBuckets: buckets.map((name) => ({ name })) });
  const address = (await server.run()) as AddressInfo;
  const endpoint = `http://127.0.0.1:${address.port}`;
  const client = new S3Client({ endpoint, region: REGION, forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  return {
    client,
    endpoint,
    stop: async () => {
      client.destroy();
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

export async function startSnsSqs(): Promise<{ sns: SNSClient; sqs: SQSClient; stop: () => Promise<void> }> {
  const server = await startFauxqs({ port: 0, host: '127.0.0.1', logger: false });
  const config = { endpoint: server.address, region: REGION, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };
  const sns = new SNSClient(config);
  const sqs = new SQSClient(config);
  return {
    sns,
    sqs,
    stop: async () => {
      sns.destroy();
      sqs.destroy();
      await server.stop();
    },
  };
}
