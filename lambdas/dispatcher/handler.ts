import { SSMClient } from '@aws-sdk/client-ssm';
import * as z from 'zod';
import { bundledFleet } from '../shared/fleet.js';
import { BaseEnv, parseEnv } from '../shared/env.js';
import { InputError, parseOrThrow } from '../shared/errors.js';
import { logger } from '../shared/logger.js';
import { metrics, MetricUnit } from '../shared/metrics.js';
import { dispatch, DispatchEvent } from './dispatch.js';

const env = parseEnv(BaseEnv.extend({ SHIPSHAPE_OUTPUT_BUCKET: z.string().min(3) }));
const fleet = bundledFleet();
// Retries are ours (jittered backoff in dispatch), so the SDK does not multiply them.
const ssm = new SSMClient({ maxAttempts: 1 });

export const handler = async (event: unknown) => {
  try {
    const request = parseOrThrow(DispatchEvent, event, 'dispatch event');
    logger.appendKeys({ runbook: request.runbook, stack: request.stack, trigger: request.trigger });
    const result = await dispatch(ssm, { fleet, documents: env.SHIPSHAPE_DOCUMENTS, outputBucket: env.SHIPSHAPE_OUTPUT_BUCKET }, request);
    logger.info('dispatched', { ...result });
    metrics.addDimension('runbook', request.runbook);
    metrics.addMetric('CommandsSent', MetricUnit.Count, result.commandIds.length);
    metrics.addMetric('DispatchThrottles', MetricUnit.Count, result.throttled);
    return result;
  } catch (err) {
    if (err instanceof InputError) {
      // A bad payload will not get better on retry: report it and stop here.
      logger.error('rejected dispatch event', { error: err.message });
      metrics.addMetric('RejectedEvents', MetricUnit.Count, 1);
      return { rejected: err.message };
    }
    throw err;
  } finally {
    metrics.publishStoredMetrics();
    logger.resetKeys();
  }
};
