import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { DynamoStateStore } from '../result/state-store.js';
import { BaseEnv, parseEnv } from '../shared/env.js';
import { bundledFleet } from '../shared/fleet.js';
import { lambdaHandler } from '../shared/handler.js';
import { logger } from '../shared/logger.js';
import { lastRuns, silence } from './silence.js';

const env = parseEnv(BaseEnv.extend({ SHIPSHAPE_STATE_TABLE: z.string().min(3) }));
const fleet = bundledFleet();
const store = new DynamoStateStore(DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } }), env.SHIPSHAPE_STATE_TABLE);

export const handler = lambdaHandler('console request', async (event) => {
  if ((event as { action?: unknown })?.action === 'last-runs') return { runs: await lastRuns(store, fleet, event) };
  const s = await silence(store, fleet, event, Date.now());
  logger.info('silence set', { ...s });
  return { silenced: s.id, until: new Date(s.until).toISOString() };
});
