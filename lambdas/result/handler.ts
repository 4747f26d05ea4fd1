import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import type { Context } from 'aws-lambda';
import * as z from 'zod';
import { BaseEnv, parseEnv } from '../shared/env.js';
import { bundledFleet } from '../shared/fleet.js';
import { lambdaHandler } from '../shared/handler.js';
import { logger } from '../shared/logger.js';
import { metrics, MetricUnit } from '../shared/metrics.js';
import { resultPipeline, type MetricSink } from './pipeline.js';
import { DynamoStateStore } from './state-store.js';

const env = parseEnv(BaseEnv.extend({
  SHIPSHAPE_ALERT_TOPIC_ARN: z.string().startsWith('arn:'), SHIPSHAPE_STATE_TABLE: z.string().min(3), SHIPSHAPE_OUTPUT_BUCKET: z.string().min(3).optional(),
}));
const fleet = bundledFleet();
// Every host of a stack finishing at once means a burst of GetCommandInvocation: the SDK's adaptive
// retries (client-side rate limiting) ride out SSM throttling; only InvocationDoesNotExist, which the
// SDK does not retry, keeps a short wait of its own (readInvocation).
const clients = { ssm: new SSMClient({ retryMode: 'adaptive', maxAttempts: 8 }), s3: new S3Client({}), sns: new SNSClient({}) };
const dynamo = new DynamoDBClient({});
const store = new DynamoStateStore(DynamoDBDocumentClient.from(dynamo, { marshallOptions: { removeUndefinedValues: true } }), env.SHIPSHAPE_STATE_TABLE);
const ctx = {
  fleet, documents: env.SHIPSHAPE_DOCUMENTS, region: env.AWS_REGION, topicArn: env.SHIPSHAPE_ALERT_TOPIC_ARN, store,
  ...(env.SHIPSHAPE_OUTPUT_BUCKET ? { outputBucket: env.SHIPSHAPE_OUTPUT_BUCKET } : {}),
  ...(env.SHIPSHAPE_RUNBOOKS ? { runbooks: env.SHIPSHAPE_RUNBOOKS } : {}),
};
// Idempotency records live in the state table: pk "IDEMPOTENCY#result", sk "<kind>#<hash>", expiry on the table's TTL attribute.
const persistence = new DynamoDBPersistenceLayer({
  tableName: env.SHIPSHAPE_STATE_TABLE, keyAttr: 'pk', sortKeyAttr: 'sk', staticPkValue: 'IDEMPOTENCY#result', expiryAttr: 'expiresAt', awsSdkV3Client: dynamo,
});
/** Each data point with exactly its own dimensions (plus the service), so widgets find every one of them. */
const emit: MetricSink = (name, unit, value, dimensions) => {
  const m = metrics.singleMetric();
  m.addDimensions(dimensions);
  m.addMetric(name, MetricUnit[unit], value);
};
const pipeline = resultPipeline({ clients, ctx, persistence, emit });

export const handler = lambdaHandler('event', async (event, context: Context) => {
  // In Lambda (not in local calls): in-progress idempotency records expire with this invocation.
  if (context.getRemainingTimeInMillis() > 0) pipeline.registerLambdaContext(context);
  const result = await pipeline.handle(event);
  logger.info('event processed', { result });
  return result;
});
