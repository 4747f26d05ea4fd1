/** A TimedOut run names the last stage the host reported on stderr (issue 11). */
import { describe, expect, it } from 'vitest';
import { parseFleet } from '../../../lib/config/load.js';
import { evaluateInvocation, lastStage, parseOutput } from '../../../lambdas/result/outcome.js';
import type { Invocation } from '../../../lambdas/result/invocation.js';

const fleet = parseFleet({ fleet: 'demo', stacks: [{ name: 'web', hosts: { tag: { key: 'R', value: 'w' } }, services: [{ name: 'app', container: 'app' }], backup: { volumes: [{ name: 'data' }] } }] });
const timedOut = (stderr: string): Invocation => ({ commandId: 'c', instanceId: 'i-0123456789abcdef0', documentName: 'demo-backup', status: 'TimedOut', statusDetails: 'ExecutionTimedOut',
  responseCode: -1, stdout: '', stderr, comment: undefined, fromS3: false });

describe('TimedOut runs', () => {
  it('name the last stage the host reported', () => {
    // Prepare
    const inv = timedOut('shipshape-stage: start backup\nnoise\nshipshape-stage: snapshot app-db (host)\nshipshape-stage: archive uploads\n');
    // Act
    const evaluation = evaluateInvocation(inv, 'backup', fleet, 'web', parseOutput(inv, 'backup'));
    // Assess
    expect(evaluation.complete).toBe(false);
    expect(evaluation.findings[0]).toMatchObject({ check: 'run.timeout', message: expect.stringMatching(/the last stage it reported was "archive uploads"/) });
  });

  it('say so when the host reported no stage at all', () => {
    // Act
    const inv = timedOut('');
    const evaluation = evaluateInvocation(inv, 'backup', fleet, 'web', parseOutput(inv, 'backup'));
    // Assess
    expect(lastStage('')).toBeUndefined();
    expect(evaluation.findings[0]!.message).toMatch(/reported no stage/);
  });
});
