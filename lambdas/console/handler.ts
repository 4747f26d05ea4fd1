import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SNSClient } from '@aws-sdk/client-sns';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { DynamoStateStore } from '../result/state-store.js';
import { BaseEnv, parseEnv } from '../shared/env.js';
import { bundledFleet } from '../shared/fleet.js';
import { lambdaHandler } from '../shared/handler.js';
import { logger } from '../shared/logger.js';
import { acknowledgeAlerts, sendTestAlerts } from './alerts.js';
import { lastRuns, silence } from './silence.js';

const env = parseEnv(BaseEnv.extend({
  SHIPSHAPE_STATE_TABLE: z.string().min(3),
  /** For send-test-alert. */
  SHIPSHAPE_ALERT_TOPIC_ARN: z.string().startsWith('arn:').optional(),
  SHIPSHAPE_ALARM_TOPIC_ARN: z.string().startsWith('arn:').optional(),
}));
const sns = new SNSClient({});
const fleet = bundledFleet();
const store = new DynamoStateStore(DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } }), env.SHIPSHAPE_STATE_TABLE);

export const handler = lambdaHandler('console request', async (event) => {
  const action = (event as { action?: unknown })?.action;
  if (action === 'last-runs') return { runs: await lastRuns(store, fleet, event) };
  if (action === 'acknowledge') {
    const acknowledged = await acknowledgeAlerts(store, fleet, event, Date.now());
    logger.info('alerts acknowledged', { acknowledged });
    return { acknowledged: acknowledged.map((a) => `${a.stack} ${a.host} ${a.check} ${a.target} (${a.fingerprint}) until ${a.until}`) };
  }
  if (action === 'send-test-alert') {
    if (!env.SHIPSHAPE_ALERT_TOPIC_ARN) throw new Error('SHIPSHAPE_ALERT_TOPIC_ARN is not set for the console function');
    const sent = await sendTestAlerts(sns, {
      fleet, region: env.AWS_REGION, topicArn: env.SHIPSHAPE_ALERT_TOPIC_ARN, ...(env.SHIPSHAPE_ALARM_TOPIC_ARN ? { alarmTopicArn: env.SHIPSHAPE_ALARM_TOPIC_ARN } : {}),
    }, event, Date.now());
    logger.info('test alerts sent', { sent });
    return { sent };
  }
  const s = await silence(store, fleet, event, Date.now());
  logger.info('silence set', { ...s });
  return { silenced: s.id, until: new Date(s.until).toISOString() };
});
