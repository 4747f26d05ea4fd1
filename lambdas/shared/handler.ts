import type { Context } from 'aws-lambda';
import { InputError } from './errors.js';
import { logger } from './logger.js';
import { metrics, MetricUnit } from './metrics.js';

export interface HandlerOptions {
  /**
   * 'answer' (the default): bad input is logged, counted and answered, since a throw would only
   * make Lambda retry it into the DLQ. 'throw': the caller must see every failure (Secrets
   * Manager rotation steps, console runbooks waiting on the function).
   */
  readonly badInput?: 'answer' | 'throw';
}

type Handler<T> = (event: unknown, context: Context) => Promise<T>;
/** What Powertools' class-method decorators take (LambdaInterface and a handler's property descriptor). */
type Decorator = ReturnType<typeof logger.injectLambdaContext>;

/** Placeholder for local calls (tests, scripts) that pass no context; Lambda always passes one. */
function localContext(): Context {
  const fail = () => { throw new Error('not running in Lambda'); };
  return {
    callbackWaitsForEmptyEventLoop: false, functionName: process.env.AWS_LAMBDA_FUNCTION_NAME ?? 'local', functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:local:000000000000:function:local', memoryLimitInMB: '0', awsRequestId: 'local', logGroupName: 'local', logStreamName: 'local',
    getRemainingTimeInMillis: () => 0, done: fail, fail, succeed: fail,
  };
}

/**
 * Wraps a handler body with Powertools' own class-method decorators, applied to the body as
 * the decorator syntax would: `logger.injectLambdaContext` (every log line carries the request
 * ID, cold start and function; per-event keys are reset afterwards) inside `metrics.logMetrics`
 * (cold-start metric, metrics flushed when the handler returns or throws). Anything but bad
 * input is thrown, for Lambda's retry policy and the DLQ.
 */
export function lambdaHandler<T>(what: string, body: Handler<T>, options: HandlerOptions = {}) {
  const inner: Handler<T | { rejected: string }> = async (event, context) => {
    try {
      return await body(event, context);
    } catch (err) {
      if (!(err instanceof InputError) || options.badInput === 'throw') throw err;
      logger.error(`rejected ${what}`, { error: err.message });
      metrics.addMetric('RejectedEvents', MetricUnit.Count, 1);
      return { rejected: err.message };
    }
  };
  const descriptor = { value: inner } as Parameters<Decorator>[2];
  const target: Parameters<Decorator>[0] = { handler: inner };
  // Innermost first, as stacked decorators apply: @metrics.logMetrics over @logger.injectLambdaContext.
  logger.injectLambdaContext({ resetKeys: true })(target, 'handler', descriptor);
  metrics.logMetrics({ captureColdStartMetric: true })(target, 'handler', descriptor);
  const decorated = descriptor.value as Handler<T | { rejected: string }>;
  return (event: unknown, context?: Context): Promise<T | { rejected: string }> => decorated(event, context ?? localContext());
}
