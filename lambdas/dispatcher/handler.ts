import { SSMClient } from '@aws-sdk/client-ssm';
import * as z from 'zod';
import { BaseEnv, parseEnv } from '../shared/env.js';
import { parseOrThrow } from '../shared/errors.js';
import { bundledFleet } from '../shared/fleet.js';
import { lambdaHandler } from '../shared/handler.js';
import { logger } from '../shared/logger.js';
import { metrics, MetricUnit } from '../shared/metrics.js';
import { dispatch, DispatchEvent } from './dispatch.js';

const env = parseEnv(BaseEnv.extend({ SHIPSHAPE_OUTPUT_BUCKET: z.string().min(3) }));
const fleet = bundledFleet();
// Retries are ours (jittered backoff in dispatch), so the SDK does not multiply them.
const ssm = new SSMClient({ maxAttempts: 1 });
const ctx = { fleet, documents: env.SHIPSHAPE_DOCUMENTS, outputBucket: env.SHIPSHAPE_OUTPUT_BUCKET };

export const handler = lambdaHandler('dispatch event', async (event) => {
  const request = parseOrThrow(DispatchEvent, event, 'dispatch event');
  logger.appendKeys({ runbook: request.runbook, stack: request.stack, trigger: request.trigger });
  const result = await dispatch(ssm, ctx, request);
  logger.info('dispatched', { ...result });
  metrics.addDimension('runbook', request.runbook);
  metrics.addMetric('CommandsSent', MetricUnit.Count, result.commandIds.length);
  metrics.addMetric('DispatchThrottles', MetricUnit.Count, result.throttled);
  return result;
});
