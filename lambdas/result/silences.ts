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

const WEEK_INDEX: Record<string, number> = { first: 0, second: 1, third: 2, fourth: 3, last: -1 };

/** Whether a local date (UTC-normalized) is "first sun", "last sat"... */
export function isMonthWeekday(date: Date, spec: string): boolean {
  const [week, day] = spec.split(' ') as [string, string];
  if ((date.getUTCDay() + 6) % 7 !== WEEKDAYS.indexOf(day as (typeof WEEKDAYS)[number])) return false;
  const d = date.getUTCDate();
  if (WEEK_INDEX[week] === -1) {
    const daysInMonth = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 0)).getUTCDate();
    return d + 7 > daysInMonth;
  }
  return Math.floor((d - 1) / 7) === WEEK_INDEX[week];
}

const parseLocal = (s: string): [number, number, number, number] => {
  const [date, time] = s.split('T') as [string, string];
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const [hh, mm] = time.split(':').map(Number) as [number, number];
  return [y, m, d, hh * 60 + mm];
};

/**
 * Whether an instant lies in a window: weekly (days), monthly ("first sun") or one-off
 * (from/until), all read as local wall-clock time in the window's zone, so 02:00 stays
 * 02:00 across daylight-saving changes.
 */
export function inWindow(w: MaintenanceWindow, now: number): boolean {
  if (w.from !== undefined && w.until !== undefined) {
    const from = zonedTime(...parseLocal(w.from), w.timezone);
    const until = zonedTime(...parseLocal(w.until), w.timezone);
    return now >= from && now < until;
  }
  if (w.start === undefined || w.durationMinutes === undefined) return false;
  const [hh, mm] = w.start.split(':').map(Number) as [number, number];
  const today = localParts(now, w.timezone);
  const daysBack = Math.ceil(w.durationMinutes / 1440);
  for (let back = 0; back <= daysBack; back++) {
    const date = new Date(Date.UTC(today.y, today.m - 1, today.d - back));
    const weekday = (date.getUTCDay() + 6) % 7;
    const starts = w.monthly ? w.monthly.some((spec) => isMonthWeekday(date, spec)) : (w.days ?? WEEKDAYS).includes(WEEKDAYS[weekday]!);
    if (!starts) continue;
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
