import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { Context } from 'aws-lambda';
import * as z from 'zod';
import { BaseEnv, parseEnv } from '../shared/env.js';
import { bundledFleet } from '../shared/fleet.js';
import { lambdaHandler } from '../shared/handler.js';
import { logger } from '../shared/logger.js';
import { metrics, MetricUnit } from '../shared/metrics.js';
import { operate } from './operate.js';
import { rotate, StepNotFinished, type RotationContext } from './rotate.js';

const env = parseEnv(BaseEnv.extend({ SHIPSHAPE_ALERT_TOPIC_ARN: z.string().startsWith('arn:'), SHIPSHAPE_OUTPUT_BUCKET: z.string().min(3) }));
const fleet = bundledFleet();
// A step reads every host's result (GetCommandInvocation per host): adaptive retries ride out SSM throttling on large stacks.
const clients = { sm: new SecretsManagerClient({}), ssm: new SSMClient({ retryMode: 'adaptive', maxAttempts: 8 }), sns: new SNSClient({}), s3: new S3Client({}) };

type RotationEvent = { SecretId?: string; Step?: string };
type ConsoleEvent = { action?: string; secret?: string; stack?: string };

/**
 * Secrets Manager calls with {SecretId, Step}; the console runbooks with {action, ...}; the hourly
 * schedule with {action: 'sweep'}. Failures are thrown so that all of them see them (bad input
 * too). A step that runs out of time throws StepNotFinished: Secrets Manager retries the rotation
 * and the step resumes where it stopped. The shared wrapper adds the Lambda context to every log
 * line and flushes the metrics.
 */
export const handler = lambdaHandler('secret operation', async (raw, context: Context) => {
  const event = (raw ?? {}) as RotationEvent & ConsoleEvent;
  const ctx: RotationContext = {
    fleet, documents: env.SHIPSHAPE_DOCUMENTS, outputBucket: env.SHIPSHAPE_OUTPUT_BUCKET, topicArn: env.SHIPSHAPE_ALERT_TOPIC_ARN,
    clock: { remainingMs: () => context.getRemainingTimeInMillis() },
  };
  const what = event.action ? { action: event.action, secret: event.secret, stack: event.stack } : { secret: event.SecretId, step: event.Step };
  try {
    const done = event.action ? await operate(clients, ctx, event) : await rotate(clients, ctx, event);
    logger.info('secret operation done', { ...what, result: done });
    if (event.Step === 'finishSecret') metrics.addMetric('SecretsRotated', MetricUnit.Count, 1);
    if (event.action === 'rollback') metrics.addMetric('SecretsRolledBack', MetricUnit.Count, 1);
    return done;
  } catch (err) {
    if (err instanceof StepNotFinished) {
      // Progress is in SSM (commands named by the version): the retry resumes it.
      logger.warn('secret operation continues in the next invocation', { ...what, progress: err.message });
      metrics.addMetric('RotationStepsResumed', MetricUnit.Count, 1);
    } else {
      logger.error('secret operation failed', { ...what, error: (err as Error).message });
      metrics.addMetric(event.action ? 'SecretOperationFailures' : 'RotationFailures', MetricUnit.Count, 1);
    }
    throw err;
  }
}, { badInput: 'throw' });
