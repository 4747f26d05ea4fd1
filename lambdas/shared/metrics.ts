import { Metrics } from '@aws-lambda-powertools/metrics';

export { MetricUnit } from '@aws-lambda-powertools/metrics';

/** The one metrics emitter of every function (CloudWatch EMF, namespace "shipshape"). */
export const metrics = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'shipshape',
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'shipshape',
});
