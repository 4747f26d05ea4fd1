import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decideRemedy, needsRestart } from '../../../lambdas/result/remediation.js';
import type { Service } from '../../../lib/config/schema.js';
import { demoFleet } from '../../support/fleets.js';

const MIN = 60_000;
const service = (remediation?: Service['remediation']): Service => ({ ...demoFleet().stacks[0]!.services[0]!, ...(remediation ? { remediation } : {}) });
const on = { restart: true, maxRestarts: 3, windowMinutes: 60, backoffMinutes: 5 };
const open = { busy: null, silenced: false };

describe('decideRemedy', () => {
  it('does nothing unless the service asks for it', () => {
    expect(decideRemedy(service(), [], 0, open)).toMatchObject({ action: 'skip', reason: 'remediation is off' });
  });

  it('never restarts during a backup or restore, or a silence', () => {
    expect(decideRemedy(service(on), [], 0, { busy: 'backup', silenced: false })).toMatchObject({ action: 'skip', reason: 'a backup is running' });
    expect(decideRemedy(service(on), [], 0, { busy: null, silenced: true })).toMatchObject({ action: 'skip', reason: 'silenced' });
  });

  it('restarts with doubling pauses, then gives up at the cap', () => {
    expect(decideRemedy(service(on), [], 0, open)).toEqual({ action: 'restart', attempt: 1 });
    expect(decideRemedy(service(on), [0], 4 * MIN, open)).toMatchObject({ action: 'wait' });
    expect(decideRemedy(service(on), [0], 5 * MIN, open)).toEqual({ action: 'restart', attempt: 2 });
    expect(decideRemedy(service(on), [0, 5 * MIN], 14 * MIN, open)).toMatchObject({ action: 'wait' });
    expect(decideRemedy(service(on), [0, 5 * MIN], 15 * MIN, open)).toEqual({ action: 'restart', attempt: 3 });
    expect(decideRemedy(service(on), [0, 5 * MIN, 15 * MIN], 40 * MIN, open)).toEqual({ action: 'exhausted', attempts: 3 });
    // An hour later only the third restart is still in the window.
    expect(decideRemedy(service(on), [0, 5 * MIN, 15 * MIN], 70 * MIN, open)).toEqual({ action: 'restart', attempt: 2 });
  });

  it('holds the cap for a container that never recovers, whatever the check interval', () => {
    fc.assert(fc.property(
      fc.record({ maxRestarts: fc.integer({ min: 1, max: 6 }), windowMinutes: fc.integer({ min: 5, max: 240 }), backoffMinutes: fc.integer({ min: 1, max: 30 }) }),
      fc.integer({ min: 1, max: 30 }),
      (cfg, everyMinutes) => {
        const svc = service({ restart: true, ...cfg });
        const restarts: number[] = [];
        for (let t = 0; t < 24 * 60 * MIN; t += everyMinutes * MIN) {
          const r = decideRemedy(svc, restarts, t, open);
          if (r.action === 'restart') restarts.push(t);
          const inWindow = restarts.filter((x) => t - x < cfg.windowMinutes * MIN).length;
          expect(inWindow).toBeLessThanOrEqual(cfg.maxRestarts);
        }
      },
    ), { numRuns: 200 });
  });
});

describe('needsRestart', () => {
  const svc = service(on);
  const f = (check: string, target: string, severity: 'critical' | 'warning' = 'critical') => ({ check, target, severity, observed: null, threshold: null, message: '' });
  it('restarts for a down, unhealthy or unanswering service, not for warnings or host problems', () => {
    expect(needsRestart(svc, [f('container.state', 'api (web-api-1)')])).toBe(true);
    expect(needsRestart(svc, [f('probe.http', 'api: http://x')])).toBe(true);
    expect(needsRestart(svc, [f('probe.latency', 'api: http://x', 'warning')])).toBe(false);
    expect(needsRestart(svc, [f('host.disk', '/')])).toBe(false);
    expect(needsRestart(svc, [f('container.state', 'db (web-db-1)')])).toBe(false);
  });
});
