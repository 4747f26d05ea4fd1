import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { BaseEnv, parseEnv } from '../shared/env.js';
import { bundledFleet } from '../shared/fleet.js';
import { parseOrThrow } from '../shared/errors.js';
import { lambdaHandler } from '../shared/handler.js';
import { logger } from '../shared/logger.js';
import { metrics, MetricUnit } from '../shared/metrics.js';
import { AlarmEvent, alarmMessage } from './alarms.js';
import { publishAlert } from './notify.js';
import { processCommandEvent, processInvocationEvent } from './process.js';
import { DynamoStateStore } from './state-store.js';

const env = parseEnv(BaseEnv.extend({
  SHIPSHAPE_ALERT_TOPIC_ARN: z.string().startsWith('arn:'), SHIPSHAPE_STATE_TABLE: z.string().min(3), SHIPSHAPE_OUTPUT_BUCKET: z.string().min(3).optional(),
}));
const fleet = bundledFleet();
const clients = { ssm: new SSMClient({}), s3: new S3Client({}), sns: new SNSClient({}) };
const store = new DynamoStateStore(DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } }), env.SHIPSHAPE_STATE_TABLE);
const ctx = {
  fleet, documents: env.SHIPSHAPE_DOCUMENTS, region: env.AWS_REGION, topicArn: env.SHIPSHAPE_ALERT_TOPIC_ARN, store,
  ...(env.SHIPSHAPE_OUTPUT_BUCKET ? { outputBucket: env.SHIPSHAPE_OUTPUT_BUCKET } : {}),
  ...(env.SHIPSHAPE_RUNBOOKS ? { runbooks: env.SHIPSHAPE_RUNBOOKS } : {}),
};

export const handler = lambdaHandler('event', async (event) => {
  if ((event as { source?: unknown })?.source === 'aws.cloudwatch') {
    const alarm = alarmMessage(parseOrThrow(AlarmEvent, event, 'alarm event'), { fleet: fleet.fleet, region: env.AWS_REGION, topicArn: env.SHIPSHAPE_ALERT_TOPIC_ARN });
    if (alarm) await publishAlert(clients.sns, alarm);
    logger.info('alarm state change', { alarm: (event as AlarmEvent).detail.alarmName, state: (event as AlarmEvent).detail.state.value, sent: !!alarm });
    return { kind: 'alarm', alerts: alarm ? 1 : 0 };
  }
  if ((event as { 'detail-type'?: unknown })?.['detail-type'] === 'EC2 Command Status-change Notification') {
    const flushed = await processCommandEvent(clients, ctx, event);
    metrics.addMetric('AlertsPublished', MetricUnit.Count, flushed.alerts);
    return flushed;
  }
  const result = await processInvocationEvent(clients, ctx, event);
  if (result.kind === 'ignored') {
    logger.debug('ignored event', { reason: result.reason });
    return result;
  }
  const { outcome } = result;
  const counts = { critical: 0, warning: 0 };
  for (const f of outcome.findings) if (f.severity === 'critical' || f.severity === 'warning') counts[f.severity]++;
  logger.info('host evaluated', {
    runbook: outcome.runbook, stack: outcome.stack, runId: outcome.runId, instanceId: outcome.instanceId,
    status: outcome.status, ...counts, alerts: result.alerts, notices: result.notices.map((n) => `${n.kind}:${n.finding.check}`),
  });
  metrics.addDimensions({ runbook: outcome.runbook, stack: outcome.stack });
  metrics.addMetric('HostsEvaluated', MetricUnit.Count, 1);
  metrics.addMetric('HostsFailing', MetricUnit.Count, counts.critical + counts.warning > 0 ? 1 : 0);
  metrics.addMetric('CriticalFindings', MetricUnit.Count, counts.critical);
  metrics.addMetric('WarningFindings', MetricUnit.Count, counts.warning);
  metrics.addMetric('AlertsPublished', MetricUnit.Count, result.alerts);
  if (result.backupVerified) metrics.addMetric('BackupsVerified', MetricUnit.Count, 1);
  return { kind: result.kind, alerts: result.alerts, ...counts };
});
