/**
 * The watchdog function: invoked every 5 minutes by a schedule (any payload; `{"checkSecrets":
 * true}` forces the hourly secret-age lookup). Thin: environment, clients, metrics; the work
 * is in run.ts and watch.ts.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { DynamoStateStore } from '../result/state-store.js';
import { parseOrThrow } from '../shared/errors.js';
import { bundledFleet } from '../shared/fleet.js';
import { lambdaHandler } from '../shared/handler.js';
import { logger } from '../shared/logger.js';
import { metrics, MetricUnit } from '../shared/metrics.js';
import { runWatchdog } from './run.js';

const jsonMap = z.string().transform((s, ctx) => {
  try {
    return z.record(z.string(), z.string()).parse(JSON.parse(s));
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be a JSON object of console runbook to document name' });
    return z.NEVER;
  }
});

export const WatchdogEnv = z.object({
  SHIPSHAPE_FLEET_NAME: z.string().min(1),
  SHIPSHAPE_STATE_TABLE: z.string().min(3),
  SHIPSHAPE_ALERT_TOPIC_ARN: z.string().startsWith('arn:'),
  SHIPSHAPE_RUNBOOKS: jsonMap.optional(),
  AWS_REGION: z.string().default('us-east-1'),
});

export const WatchdogEvent = z.object({ checkSecrets: z.boolean().optional() }).passthrough().nullish();

const env = parseOrThrow(WatchdogEnv, process.env, 'environment');
const fleet = bundledFleet();
// Up to 100 ListCommands a run: adaptive retries ride out SSM throttling.
const clients = { ssm: new SSMClient({ retryMode: 'adaptive', maxAttempts: 8 }), sm: new SecretsManagerClient({}), sns: new SNSClient({}) };
const store = new DynamoStateStore(DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } }), env.SHIPSHAPE_STATE_TABLE);

export const handler = lambdaHandler('watchdog event', async (event) => {
  const input = parseOrThrow(WatchdogEvent, event, 'watchdog event');
  const report = await runWatchdog(clients, {
    fleet, store, topicArn: env.SHIPSHAPE_ALERT_TOPIC_ARN, region: env.AWS_REGION,
    ...(env.SHIPSHAPE_RUNBOOKS ? { runbooks: env.SHIPSHAPE_RUNBOOKS } : {}),
    ...(input?.checkSecrets !== undefined ? { checkSecrets: input.checkSecrets } : {}),
  });
  for (const a of report.secretAges) {
    const m = metrics.singleMetric();
    m.addDimension('secret', a.secret);
    m.addMetric('SecretAgeDays', MetricUnit.Count, a.ageDays);
  }
  metrics.addMetric('WatchdogFailingFindings', MetricUnit.Count, report.failing);
  // The same metric, per stack, as the result function's alerts: the dashboard graphs AlertsSent by stack.
  for (const [stack, n] of Object.entries(report.alertsByStack)) {
    const m = metrics.singleMetric();
    m.addDimension('stack', stack);
    m.addMetric('AlertsSent', MetricUnit.Count, n);
  }
  metrics.addMetric('WatchdogErrors', MetricUnit.Count, report.errors.length);
  logger.info('watchdog run', { stacks: report.stacks, failing: report.failing, notices: report.notices, alerts: report.alerts, listCommands: report.listCommands, secrets: report.secretAges.length, errors: report.errors });
  // Failures were contained per stack and per lookup; throwing makes the Errors alarm see them.
  if (report.errors.some((e) => e.startsWith('stack '))) throw new Error(`watchdog could not alert for: ${report.errors.filter((e) => e.startsWith('stack ')).join('; ')}`);
  return { failing: report.failing, alerts: report.alerts, errors: report.errors.length };
});
