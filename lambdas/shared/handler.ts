import { InputError } from './errors.js';
import { logger } from './logger.js';
import { metrics, MetricUnit } from './metrics.js';

/**
 * Wraps a handler body: bad input is logged, counted and answered (a throw would only make
 * Lambda retry it into the DLQ); anything else is thrown for the retry policy. Metrics are
 * flushed and per-event log keys cleared either way.
 */
export function lambdaHandler<T>(what: string, body: (event: unknown) => Promise<T>) {
  return async (event: unknown): Promise<T | { rejected: string }> => {
    try {
      return await body(event);
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      logger.error(`rejected ${what}`, { error: err.message });
      metrics.addMetric('RejectedEvents', MetricUnit.Count, 1);
      return { rejected: err.message };
    } finally {
      metrics.publishStoredMetrics();
      logger.resetKeys();
    }
  };
}
