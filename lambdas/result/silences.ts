/**
 * Whether a finding is silenced: by a recurring maintenance window from the config, or by a
 * one-off silence an operator set from the console.
 */
import { WEEKDAYS, type MaintenanceWindow } from '../../lib/config/schema.js';

export interface Silence {
  readonly id: string;
  /** Epoch ms. */
  readonly until: number;
  readonly stack?: string;
  readonly host?: string;
  readonly check?: string;
  readonly reason: string;
}

export interface Scope {
  readonly stack: string;
  readonly host: string;
  readonly check: string;
}

/** "container.state" matches "container.state", "container.*" and no check at all. */
export function checkMatches(pattern: string | undefined, check: string): boolean {
  if (!pattern) return true;
  if (pattern.endsWith('.*')) return check.startsWith(pattern.slice(0, -1));
  return pattern === check;
}

export function silenceApplies(s: Silence, scope: Scope, now: number): boolean {
  return s.until > now && (!s.stack || s.stack === scope.stack) && (!s.host || s.host === scope.host) && checkMatches(s.check, scope.check);
}

const DAY_INDEX: Record<string, number> = { Mon: 0, Tue: 1, Wed: 2, Thu: 3, Fri: 4, Sat: 5, Sun: 6 };

/** Local calendar fields of an instant in a time zone. */
function localParts(ms: number, timeZone: string): { y: number; m: number; d: number; weekday: number; minutes: number } {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: 'numeric', day: 'numeric', weekday: 'short', hour: 'numeric', minute: 'numeric', hourCycle: 'h23' })
      .formatToParts(new Date(ms))
      .map((p) => [p.type, p.value]),
  );
  return { y: Number(parts.year), m: Number(parts.month), d: Number(parts.day), weekday: DAY_INDEX[parts.weekday!]!, minutes: Number(parts.hour) * 60 + Number(parts.minute) };
}

/** The instant at which the local wall-clock time y-m-d hh:mm occurs in a time zone. */
export function zonedTime(y: number, m: number, d: number, minutes: number, timeZone: string): number {
  const guess = Date.UTC(y, m - 1, d, 0, minutes);
  let t = guess;
  for (let i = 0; i < 2; i++) {
    const p = localParts(t, timeZone);
    const asUtc = Date.UTC(p.y, p.m - 1, p.d, 0, p.minutes);
    t += guess - asUtc;
  }
  return t;
}

export function inWindow(w: MaintenanceWindow, now: number): boolean {
  const [hh, mm] = w.start.split(':').map(Number) as [number, number];
  const today = localParts(now, w.timezone);
  const daysBack = Math.ceil(w.durationMinutes / 1440);
  for (let back = 0; back <= daysBack; back++) {
    const date = new Date(Date.UTC(today.y, today.m - 1, today.d - back));
    const weekday = (date.getUTCDay() + 6) % 7;
    if (!w.days.includes(WEEKDAYS[weekday]!)) continue;
    const start = zonedTime(date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate(), hh * 60 + mm, w.timezone);
    if (now >= start && now < start + w.durationMinutes * 60_000) return true;
  }
  return false;
}

export function maintenanceApplies(w: MaintenanceWindow, scope: Scope, now: number): boolean {
  return (!w.stacks || w.stacks.includes(scope.stack)) && (!w.checks || w.checks.some((c) => checkMatches(c, scope.check))) && inWindow(w, now);
}

export function isSilenced(windows: readonly MaintenanceWindow[], silences: readonly Silence[], scope: Scope, now: number): boolean {
  return windows.some((w) => maintenanceApplies(w, scope, now)) || silences.some((s) => silenceApplies(s, scope, now));
}
