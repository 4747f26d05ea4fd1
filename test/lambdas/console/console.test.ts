import { describe, expect, it } from 'vitest';
import { lastRuns, silence } from '../../../lambdas/console/silence.js';
import { InputError } from '../../../lambdas/shared/errors.js';
import { demoFleet } from '../../support/fleets.js';
import { MemoryStateStore } from '../../support/memory-store.js';

const now = Date.parse('2026-11-21T09:00:00Z');
const request = { action: 'silence', stack: 'web', host: '*', check: 'container.*', hours: '4', reason: 'planned upgrade (ticket 42)' };

describe('silence requests from the console', () => {
  it('stores a silence for the scope and hours asked for', async () => {
    const store = new MemoryStateStore();
    const s = await silence(store, demoFleet(), request, now, () => 'id-1');
    expect(s).toEqual({ id: 'id-1', until: now + 4 * 3_600_000, stack: 'web', check: 'container.*', reason: 'planned upgrade (ticket 42)' });
    expect(store.silences).toEqual([s]);
  });

  it.each([
    ['an unknown stack', { stack: 'nope' }],
    ['0 hours', { hours: '0' }],
    ['more than a week', { hours: '169' }],
    ['a host that is not an ID', { host: 'web-1;reboot' }],
    ['a quote in the reason', { reason: 'it"s fine' }],
    ['a missing reason', { reason: undefined }],
  ])('fails when the request has %s, and stores nothing', async (_what, change) => {
    const store = new MemoryStateStore();
    await expect(silence(store, demoFleet(), { ...request, ...change }, now)).rejects.toThrow(InputError);
    expect(store.silences).toEqual([]);
  });
});

describe('last runs from the console', () => {
  it('lists the newest runs of a stack with their outcome and actions', async () => {
    const store = new MemoryStateStore();
    for (const [i, runbook] of ['health-check', 'backup', 'health-check'].entries()) {
      await store.recordRun({ stack: 'web', host: 'i-1', runbook, runId: `r${i}`, commandId: 'c', status: 'Success', at: now + i * 60_000, critical: i, warning: 0, notices: i ? 1 : 0, ...(i === 2 ? { actions: ['restart api (attempt 1)'] } : {}) });
    }
    const lines = await lastRuns(store, demoFleet(), { action: 'last-runs', stack: 'web', count: '2' });
    expect(lines).toHaveLength(2);
    expect(lines[0]).toBe('2026-11-21T09:02:00Z  health-check  i-1  Success     2 critical, 0 warning, 1 alert(s)  actions: restart api (attempt 1)  run r2');
    await expect(lastRuns(store, demoFleet(), { action: 'last-runs', stack: 'web', count: '51' })).rejects.toThrow(InputError);
  });
});
