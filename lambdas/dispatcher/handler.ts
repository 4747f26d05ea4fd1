import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SSMClient } from '@aws-sdk/client-ssm';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { DynamoStateStore } from '../result/state-store.js';
import { BaseEnv, parseEnv } from '../shared/env.js';
import { parseOrThrow } from '../shared/errors.js';
import { bundledFleet } from '../shared/fleet.js';
import { lambdaHandler } from '../shared/handler.js';
import { logger } from '../shared/logger.js';
import { metrics, MetricUnit } from '../shared/metrics.js';
import { dispatch, DispatchEvent } from './dispatch.js';

const env = parseEnv(BaseEnv.extend({ SHIPSHAPE_OUTPUT_BUCKET: z.string().min(3), SHIPSHAPE_STATE_TABLE: z.string().min(3) }));
const fleet = bundledFleet();
// The SDK retries throttling with adaptive rate limiting: a schedule of 300 stacks sends in one burst.
const ssm = new SSMClient({ retryMode: 'adaptive', maxAttempts: 8 });
const store = new DynamoStateStore(DynamoDBDocumentClient.from(new DynamoDBClient({})), env.SHIPSHAPE_STATE_TABLE);
const ctx = { fleet, documents: env.SHIPSHAPE_DOCUMENTS, outputBucket: env.SHIPSHAPE_OUTPUT_BUCKET, store };

export const handler = lambdaHandler('dispatch event', async (event) => {
  const request = parseOrThrow(DispatchEvent, event, 'dispatch event');
  logger.appendKeys({ trigger: request.trigger, ...('schedule' in request ? { schedule: request.schedule } : 'deployId' in request ? { runbook: request.runbook } : { runbook: request.runbook, stack: request.stack }) });
  const results = await dispatch(ssm, ctx, request);
  const failed = results.filter((r) => r.error);
  for (const r of results) {
    if (r.error) logger.error('dispatch failed', { runbook: r.runbook, stack: r.stack, runId: r.runId, error: r.error });
    else logger.info(r.skipped ? 'already dispatched' : 'dispatched', { runbook: r.runbook, stack: r.stack, runId: r.runId, commandIds: r.commandIds });
  }
  metrics.addMetric('CommandsSent', MetricUnit.Count, results.reduce((n, r) => n + r.commandIds.length, 0));
  metrics.addMetric('DispatchFailures', MetricUnit.Count, failed.length);
  // Failed runs make the invocation fail so the scheduler retries; runs already sent are skipped then.
  if (failed.length) throw new Error(`${failed.length} of ${results.length} runs could not be sent: ${failed.slice(0, 3).map((r) => `${r.runbook}/${r.stack}: ${r.error}`).join('; ')}`);
  return results;
});
