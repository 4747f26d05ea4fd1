import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import * as z from 'zod';
import { BaseEnv, parseEnv } from '../shared/env.js';
import { bundledFleet } from '../shared/fleet.js';
import { logger } from '../shared/logger.js';
import { metrics, MetricUnit } from '../shared/metrics.js';
import { rotate } from './rotate.js';

const env = parseEnv(BaseEnv.extend({ SHIPSHAPE_ALERT_TOPIC_ARN: z.string().startsWith('arn:'), SHIPSHAPE_OUTPUT_BUCKET: z.string().min(3) }));
const fleet = bundledFleet();
const clients = { sm: new SecretsManagerClient({}), ssm: new SSMClient({}), sns: new SNSClient({}) };
const ctx = { fleet, documents: env.SHIPSHAPE_DOCUMENTS, outputBucket: env.SHIPSHAPE_OUTPUT_BUCKET, topicArn: env.SHIPSHAPE_ALERT_TOPIC_ARN };

/** Secrets Manager retries a failed step, so failures are thrown, never swallowed. */
export const handler = async (event: { SecretId?: string; Step?: string }) => {
  try {
    const done = await rotate(clients, ctx, event);
    logger.info('rotation step done', { secret: event.SecretId, step: event.Step, result: done });
    if (event.Step === 'finishSecret') metrics.addMetric('SecretsRotated', MetricUnit.Count, 1);
    return done;
  } catch (err) {
    logger.error('rotation step failed', { secret: event.SecretId, step: event.Step, error: (err as Error).message });
    metrics.addMetric('RotationFailures', MetricUnit.Count, 1);
    throw err;
  } finally {
    metrics.publishStoredMetrics();
  }
};
