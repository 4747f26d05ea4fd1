import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import * as z from 'zod';
import { BaseEnv, parseEnv } from '../shared/env.js';
import { bundledFleet } from '../shared/fleet.js';
import { lambdaHandler } from '../shared/handler.js';
import { logger } from '../shared/logger.js';
import { metrics, MetricUnit } from '../shared/metrics.js';
import { operate, secretAges } from './operate.js';
import { rotate } from './rotate.js';

const env = parseEnv(BaseEnv.extend({ SHIPSHAPE_ALERT_TOPIC_ARN: z.string().startsWith('arn:'), SHIPSHAPE_OUTPUT_BUCKET: z.string().min(3) }));
const fleet = bundledFleet();
const clients = { sm: new SecretsManagerClient({}), ssm: new SSMClient({}), sns: new SNSClient({}) };
const ctx = { fleet, documents: env.SHIPSHAPE_DOCUMENTS, outputBucket: env.SHIPSHAPE_OUTPUT_BUCKET, topicArn: env.SHIPSHAPE_ALERT_TOPIC_ARN };

type RotationEvent = { SecretId?: string; Step?: string };
type ConsoleEvent = { action?: string; secret?: string };

/** Daily: one SecretAgeDays per secret, which the missed-rotation alarms watch. */
async function reportAges(): Promise<string> {
  const { ages, errors } = await secretAges(clients, ctx, new Date());
  for (const a of ages) {
    const m = metrics.singleMetric();
    m.addDimension('secret', a.secret);
    m.addMetric('SecretAgeDays', MetricUnit.Count, a.ageDays);
  }
  logger.info('secret ages', { ages });
  if (errors.length) throw new Error(`cannot read the age of ${errors.join('; ')}`);
  return `${ages.length} secret ages reported`;
}

/**
 * Secrets Manager calls with {SecretId, Step}; the console runbooks with {action, secret}. Failures
 * are thrown so that both see them (bad input too). The shared wrapper adds the Lambda context to
 * every log line and flushes the metrics.
 */
export const handler = lambdaHandler('secret operation', async (raw) => {
  const event = (raw ?? {}) as RotationEvent & ConsoleEvent;
  if (event.action === 'report-age') return reportAges();
  const what = event.action ? { action: event.action, secret: event.secret } : { secret: event.SecretId, step: event.Step };
  try {
    const done = event.action ? await operate(clients, ctx, event) : await rotate(clients, ctx, event);
    logger.info('secret operation done', { ...what, result: done });
    if (event.Step === 'finishSecret') metrics.addMetric('SecretsRotated', MetricUnit.Count, 1);
    if (event.action === 'rollback') metrics.addMetric('SecretsRolledBack', MetricUnit.Count, 1);
    return done;
  } catch (err) {
    logger.error('secret operation failed', { ...what, error: (err as Error).message });
    metrics.addMetric(event.action ? 'SecretOperationFailures' : 'RotationFailures', MetricUnit.Count, 1);
    throw err;
  }
}, { badInput: 'throw' });
