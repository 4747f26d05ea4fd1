import { describe, expect, it } from 'vitest';
import { inWindow, isSilenced, zonedTime, type Silence } from '../../../lambdas/result/silences.js';
import type { MaintenanceWindow } from '../../../lib/config/schema.js';

const window = (w: Partial<MaintenanceWindow>): MaintenanceWindow => ({ days: ['sun'], start: '02:00', durationMinutes: 120, timezone: 'UTC', ...w });
const at = (iso: string) => Date.parse(iso);

describe('maintenance windows', () => {
  it('covers Sunday 02:00 to 04:00 UTC and nothing else', () => {
    const w = window({});
    expect(inWindow(w, at('2026-11-22T01:59:00Z'))).toBe(false);
    expect(inWindow(w, at('2026-11-22T02:00:00Z'))).toBe(true);
    expect(inWindow(w, at('2026-11-22T03:59:00Z'))).toBe(true);
    expect(inWindow(w, at('2026-11-22T04:00:00Z'))).toBe(false);
    expect(inWindow(w, at('2026-11-23T02:30:00Z'))).toBe(false);
  });

  it('reads the start in its own time zone, across daylight saving changes', () => {
    const w = window({ timezone: 'Europe/Berlin', days: ['sun'], start: '02:30', durationMinutes: 60 });
    expect(inWindow(w, at('2026-07-05T00:45:00Z'))).toBe(true); // CEST, UTC+2
    expect(inWindow(w, at('2026-11-22T01:45:00Z'))).toBe(true); // CET, UTC+1
    expect(inWindow(w, at('2026-11-22T00:45:00Z'))).toBe(false);
    expect(zonedTime(2026, 11, 22, 150, 'Europe/Berlin')).toBe(at('2026-11-22T01:30:00Z'));
  });

  it('spans midnight and several days', () => {
    const w = window({ days: ['sat'], start: '22:00', durationMinutes: 3 * 1440 });
    expect(inWindow(w, at('2026-11-24T12:00:00Z'))).toBe(true); // Tuesday noon, inside
    expect(inWindow(w, at('2026-11-24T22:00:00Z'))).toBe(false);
  });

  it('applies only to its stacks and checks', () => {
    const w = window({ stacks: ['edge'], checks: ['host.*'] });
    const now = at('2026-11-22T02:30:00Z');
    expect(isSilenced([w], [], { stack: 'edge', host: 'i-1', check: 'host.disk' }, now)).toBe(true);
    expect(isSilenced([w], [], { stack: 'edge', host: 'i-1', check: 'container.state' }, now)).toBe(false);
    expect(isSilenced([w], [], { stack: 'monitoring', host: 'i-1', check: 'host.disk' }, now)).toBe(false);
  });
});

describe('one-off silences', () => {
  const s: Silence = { id: 's1', until: at('2026-11-22T12:00:00Z'), stack: 'edge', host: 'i-1', reason: 'upgrade' };
  it('apply to their scope until they end', () => {
    expect(isSilenced([], [s], { stack: 'edge', host: 'i-1', check: 'probe.http' }, at('2026-11-22T11:00:00Z'))).toBe(true);
    expect(isSilenced([], [s], { stack: 'edge', host: 'i-2', check: 'probe.http' }, at('2026-11-22T11:00:00Z'))).toBe(false);
    expect(isSilenced([], [s], { stack: 'edge', host: 'i-1', check: 'probe.http' }, at('2026-11-22T12:00:00Z'))).toBe(false);
  });
});

describe('monthly and one-off windows', () => {
  it('covers the first Sunday of the month 02:00-04:00 in Berlin, in summer and in winter time', () => {
    // Prepare: FDTS's window; 2026-03-01 (CET) and 2026-11-01 (CET, a week after the change) are first Sundays, 2026-07-05 is in CEST.
    const w = window({ days: undefined, monthly: ['first sun'], timezone: 'Europe/Berlin' });
    // Act / Assess
    expect(inWindow(w, at('2026-03-01T01:30:00Z'))).toBe(true); // 02:30 CET
    expect(inWindow(w, at('2026-07-05T00:30:00Z'))).toBe(true); // 02:30 CEST
    expect(inWindow(w, at('2026-07-05T02:30:00Z'))).toBe(false); // 04:30 CEST
    expect(inWindow(w, at('2026-07-12T00:30:00Z'))).toBe(false); // second Sunday
    expect(inWindow(w, at('2026-11-01T01:30:00Z'))).toBe(true);
  });

  it('follows the change to summer time on the day it happens (last Sunday of March)', () => {
    // Prepare: 2026-03-29 is the last Sunday of March; Berlin skips 02:00-03:00 that night.
    const w = window({ days: undefined, monthly: ['last sun'], start: '01:00', durationMinutes: 240, timezone: 'Europe/Berlin' });
    // Act / Assess: 01:00 CET = 00:00 UTC; four hours of elapsed time end at 04:00 UTC (06:00 CEST).
    expect(inWindow(w, at('2026-03-28T23:59:00Z'))).toBe(false);
    expect(inWindow(w, at('2026-03-29T00:00:00Z'))).toBe(true);
    expect(inWindow(w, at('2026-03-29T03:59:00Z'))).toBe(true);
    expect(inWindow(w, at('2026-03-29T04:00:00Z'))).toBe(false);
    expect(inWindow(w, at('2026-03-22T00:30:00Z'))).toBe(false); // an earlier Sunday
  });

  it('knows "last sat" in months of 28, 30 and 31 days', () => {
    // Prepare
    const w = window({ days: undefined, monthly: ['last sat'], start: '12:00', durationMinutes: 60 });
    // Act / Assess
    expect(inWindow(w, at('2026-02-28T12:30:00Z'))).toBe(true);
    expect(inWindow(w, at('2026-02-21T12:30:00Z'))).toBe(false);
    expect(inWindow(w, at('2026-10-31T12:30:00Z'))).toBe(true);
    expect(inWindow(w, at('2026-10-24T12:30:00Z'))).toBe(false);
  });

  it('covers a one-off window in local time across the autumn change', () => {
    // Prepare: 2026-10-25 03:00 CEST becomes 02:00 CET.
    const w = window({ days: undefined, start: undefined, durationMinutes: undefined, from: '2026-10-25T01:00', until: '2026-10-25T05:00', timezone: 'Europe/Berlin' });
    // Act / Assess: 01:00 CEST = 23:00 UTC the day before; 05:00 CET = 04:00 UTC (five hours later).
    expect(inWindow(w, at('2026-10-24T22:59:00Z'))).toBe(false);
    expect(inWindow(w, at('2026-10-24T23:00:00Z'))).toBe(true);
    expect(inWindow(w, at('2026-10-25T03:59:00Z'))).toBe(true);
    expect(inWindow(w, at('2026-10-25T04:00:00Z'))).toBe(false);
  });
});
