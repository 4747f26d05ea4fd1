/**
 * The notifier: subscribed to the alert topic (and the alarms topic) with filter policies,
 * it delivers each message to the fleet's Slack, Teams, PagerDuty and Opsgenie receivers.
 * A failed delivery throws after every receiver was tried, so Lambda retries the record
 * (receivers that have it are skipped) and finally parks it in the dead-letter queue.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { bundledFleet } from '../shared/fleet.js';
import { lambdaHandler } from '../shared/handler.js';
import { logger } from '../shared/logger.js';
import { metrics, MetricUnit } from '../shared/metrics.js';
import { parseEnv } from '../shared/env.js';
import { SecretCache } from './deliver.js';
import { DynamoDeliveryLog } from './delivery-log.js';
import { handleSnsEvent } from './sns-event.js';
import { receiversOf } from './route.js';

const env = parseEnv(z.object({ SHIPSHAPE_STATE_TABLE: z.string().min(3) }));
const fleet = bundledFleet();
const deps = {
  receivers: receiversOf(fleet),
  secrets: new SecretCache(new SecretsManagerClient({})),
  log: new DynamoDeliveryLog(DynamoDBDocumentClient.from(new DynamoDBClient({})), env.SHIPSHAPE_STATE_TABLE),
  deliverOptions: { onRetry: (i: { attempt: number; status: number | null; delayMs: number }) => logger.warn('delivery retry', i) },
};

export const handler = lambdaHandler('SNS event', async (event) => {
  const out = await handleSnsEvent(event, deps);
  for (const s of out.sent) {
    metrics.addMetric('NotificationsSent', MetricUnit.Count, 1);
    logger.info('delivered', s);
  }
  for (const f of out.failed) logger.error('delivery failed', f);
  if (out.failed.length) {
    metrics.addMetric('NotificationsFailed', MetricUnit.Count, out.failed.length);
    throw new Error(`delivery failed for ${out.failed.map((f) => `${f.receiver} (${f.channel})`).join(', ')}`);
  }
  return { sent: out.sent.length, skipped: out.skipped.length, ignored: out.ignored };
});
