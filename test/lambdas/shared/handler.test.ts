/** The shared wrapper: Powertools' injectLambdaContext and logMetrics around every handler body. */
import type { Context } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

type Wrapper = typeof import('../../../lambdas/shared/handler.js');
let wrapper: Wrapper;
let errors: typeof import('../../../lambdas/shared/errors.js');
let logger: typeof import('../../../lambdas/shared/logger.js')['logger'];
let metrics: typeof import('../../../lambdas/shared/metrics.js');

const context = (requestId: string): Context => ({
  callbackWaitsForEmptyEventLoop: true, functionName: 'shipshape-demo-dispatcher', functionVersion: '$LATEST', invokedFunctionArn: 'arn:aws:lambda:us-east-1:111122223333:function:shipshape-demo-dispatcher',
  memoryLimitInMB: '256', awsRequestId: requestId, logGroupName: '/aws/lambda/x', logStreamName: 's', getRemainingTimeInMillis: () => 1000,
  done: () => undefined, fail: () => undefined, succeed: () => undefined,
});

/** Every JSON line Powertools writes (logs and EMF metrics) while `fn` runs. */
async function captured(fn: () => Promise<unknown>): Promise<{ result: unknown; lines: Record<string, unknown>[] }> {
  const lines: Record<string, unknown>[] = [];
  const collect = (chunk: string | Uint8Array) => {
    for (const line of String(chunk).split('\n').filter(Boolean)) {
      try { lines.push(JSON.parse(line) as Record<string, unknown>); } catch { /* not ours */ }
    }
    return true;
  };
  const spies = [vi.spyOn(process.stdout, 'write').mockImplementation(collect), vi.spyOn(process.stderr, 'write').mockImplementation(collect)];
  try {
    const result = await fn().catch((err: unknown) => err);
    return { result, lines };
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
}

beforeAll(async () => {
  // Files share worker processes (vitest.config.ts): the handler modules, which read the environment
  // and start Powertools at import, are evaluated afresh here and not left behind for the next file.
  vi.resetModules();
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'INFO');
  vi.stubEnv('POWERTOOLS_SERVICE_NAME', 'dispatcher');
  vi.stubEnv('POWERTOOLS_METRICS_NAMESPACE', 'shipshape');
  vi.stubEnv('POWERTOOLS_DEV', '');
  vi.stubEnv('AWS_LAMBDA_INITIALIZATION_TYPE', 'on-demand');
  wrapper = await import('../../../lambdas/shared/handler.js');
  errors = await import('../../../lambdas/shared/errors.js');
  logger = (await import('../../../lambdas/shared/logger.js')).logger;
  metrics = await import('../../../lambdas/shared/metrics.js');
});
afterEach(() => vi.restoreAllMocks());
afterAll(() => {
  vi.unstubAllEnvs();
  vi.resetModules();
});

describe('lambdaHandler', () => {
  it('puts the request ID and the cold-start flag on every log line, and sends the cold-start metric, on the first invocation only', async () => {
    // Prepare
    const handler = wrapper.lambdaHandler('event', async () => {
      logger.info('working');
      metrics.metrics.addMetric('Things', metrics.MetricUnit.Count, 1);
      return 'done';
    });
    // Act
    const first = await captured(() => handler({}, context('req-1')));
    const second = await captured(() => handler({}, context('req-2')));
    // Assess
    expect(first.result).toBe('done');
    expect(first.lines.find((l) => l.message === 'working')).toMatchObject({ function_request_id: 'req-1', cold_start: true, function_name: 'shipshape-demo-dispatcher' });
    expect(second.lines.find((l) => l.message === 'working')).toMatchObject({ function_request_id: 'req-2', cold_start: false });
    expect(first.lines.filter((l) => 'ColdStart' in l)).toEqual([expect.objectContaining({ ColdStart: 1, function_name: 'shipshape-demo-dispatcher' })]);
    expect(second.lines.filter((l) => 'ColdStart' in l)).toEqual([]);
  });

  it('flushes the handler\'s metrics through logMetrics on every invocation', async () => {
    // Prepare
    const handler = wrapper.lambdaHandler('event', async () => {
      metrics.metrics.addMetric('Dispatched', metrics.MetricUnit.Count, 2);
      return 'done';
    });
    // Act
    const { lines } = await captured(() => handler({}, context('req-3')));
    // Assess
    const emf = lines.filter((l) => '_aws' in l);
    expect(emf).toContainEqual(expect.objectContaining({ Dispatched: 2 }));
    expect(emf.filter((l) => 'ColdStart' in l)).toEqual([]);  // sent with the first invocation, in the test above
  });

  it('fails when the body throws: metrics are still flushed and per-event keys reset', async () => {
    // Prepare
    const handler = wrapper.lambdaHandler('event', async () => {
      logger.appendKeys({ runId: 'r-1' });
      metrics.metrics.addMetric('Attempted', metrics.MetricUnit.Count, 1);
      throw new Error('SSM is down');
    });
    // Act
    const { result, lines } = await captured(() => handler({}, context('req-4')));
    const after = await captured(async () => logger.info('later'));
    // Assess
    expect(result).toBeInstanceOf(Error);
    expect(lines.filter((l) => '_aws' in l)).toContainEqual(expect.objectContaining({ Attempted: 1 }));
    expect(after.lines.find((l) => l.message === 'later')).not.toHaveProperty('runId');
  });

  it('fails when the input is bad: answered, logged with the request ID and counted, not thrown', async () => {
    // Prepare
    const handler = wrapper.lambdaHandler('dispatch event', async () => { throw new errors.InputError('stack: required'); });
    // Act
    const { result, lines } = await captured(() => handler({ nonsense: true }, context('req-5')));
    // Assess
    expect(result).toEqual({ rejected: 'stack: required' });
    expect(lines.find((l) => l.message === 'rejected dispatch event')).toMatchObject({ function_request_id: 'req-5', error: 'stack: required' });
    expect(lines.filter((l) => '_aws' in l)).toContainEqual(expect.objectContaining({ RejectedEvents: 1 }));
  });

  it('fails when the input is bad and the caller must see it: thrown with badInput "throw"', async () => {
    // Prepare
    const handler = wrapper.lambdaHandler('secret operation', async () => { throw new errors.InputError('unknown secret'); }, { badInput: 'throw' });
    // Act
    const { result } = await captured(() => handler({}, context('req-6')));
    // Assess
    expect(result).toBeInstanceOf(errors.InputError);
  });

  it('runs without a Lambda context for local calls', async () => {
    // Prepare
    const handler = wrapper.lambdaHandler('event', async () => { logger.info('local'); return 1; });
    // Act
    const { result, lines } = await captured(() => handler({}));
    // Assess
    expect(result).toBe(1);
    expect(lines.find((l) => l.message === 'local')).toMatchObject({ function_request_id: 'local' });
  });
});
