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
