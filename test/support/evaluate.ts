/** Runs a host's raw stdout through the result Lambda's parse-and-evaluate path, as process.ts does. */
import { evaluateInvocation, parseOutput, type Evaluation } from '../../lambdas/result/outcome.js';
import type { Invocation } from '../../lambdas/result/invocation.js';
import type { Fleet } from '../../lib/config/schema.js';

export function evaluateStdout(runbook: string, stdout: string, fleet: Fleet, stack = 'web'): Evaluation {
  const inv: Invocation = {
    commandId: '00000000-0000-4000-8000-000000000001', instanceId: 'i-0123456789abcdef0', documentName: `shipshape-demo-${runbook}`,
    status: 'Success', statusDetails: 'Success', responseCode: 0, stdout, stderr: '', comment: undefined, fromS3: false,
  };
  return evaluateInvocation(inv, runbook, fleet, stack, parseOutput(inv, runbook));
}

/** The fields every host result starts with, for the web stack of the demo fleet. */
export const header = { stack: 'web', runId: 'run-1', hostname: 'web-1', host: 'i-0123456789abcdef0', startedAt: '2026-11-22T02:00:00Z', durationMs: 1200 };
