/**
 * When a schedule fires: the previous and the next fire time of an EventBridge Scheduler
 * cron or rate expression, evaluated the way the scheduler does. Runtime-safe (it depends
 * on nothing but the Schedule type and Intl), so the watchdog Lambda can use it.
 *
 * Cron: 6 fields "minutes hours day-of-month month day-of-week year" with `*`, `?`, ranges,
 * steps, lists, month and day names, `L`, `LW`, `NW` (day of month), `L`, `NL`, `N#k` (day
 * of week, 1 = SUN ... 7 = SAT), read as wall-clock time in the schedule's IANA time zone.
 *
 * Daylight saving time, as EventBridge Scheduler documents it:
 * - a local time that a spring-forward change skips does not run that day;
 * - a local time that a fall-back change repeats runs only once. We take the first of the two
 *   instants (the earlier one in UTC), the first time the wall clock shows that time;
 *   `repeatedAt` gives the other one, so that the watchdog can wait for it before calling a
 *   run late (it works under either reading).
 * Source: AWS re:Post Knowledge Center, "How can I adjust my Amazon EventBridge schedule for
 * daylight saving?" (https://repost.aws/knowledge-center/eventbridge-scheduler-adjust-dst):
 * "When the time shifts forward in Spring, your schedule invocation gets skipped if the cron
 * expression falls on a non-existent date and time. When the time shifts back in the Fall, your
 * schedule runs only once and doesn't repeat its invocation." and the Scheduler user guide,
 * "Schedule types", section "Daylight savings time"
 * (https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html). Neither says
 * which of the two instants runs; the earlier one is our reading.
 *
 * Rate: `N minutes|hours|days` (or `rate(N unit)`) fires every N from its start. The scheduler
 * counts a day as 24 hours whatever DST does ("evaluates the rate expression 24 hours after the
 * schedule's last invocation", same re:Post article), so the time zone plays no part. Where a
 * rate starts is not in the config (the schedule's StartDate, or when it was created), so the
 * caller passes an `anchor`: a time the schedule is known to have fired, e.g. its last
 * dispatch, or when the schedule was first seen. Without one, fires are counted from the Unix
 * epoch (multiples of the period in UTC).
 *
 * The `enabled` flag is ignored here: this is calendar arithmetic; callers skip disabled
 * schedules.
 *
 * Speed: the search steps over months that cannot match and days that cannot match, and only
 * within a matching day over the configured hours and minutes, so a yearly cron costs a few
 * dozen steps. Zone offsets come from Intl and are cached per zone and quarter hour (every
 * time-zone change since 1970 falls on a quarter hour in UTC).
 */
import type { Schedule } from './schema.js';

export type Cadence = Pick<Schedule, 'cron' | 'rate'> & { readonly timezone?: string | undefined };

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** Larger than any wall-clock shift at a time-zone change (2 h at most, Antarctica/Troll). */
const SHIFT_MARGIN = 3 * HOUR;
const FIRST_YEAR = 1970;
const LAST_YEAR = 2199;

const MONTH_NAMES: Record<string, number> = { JAN: 1, FEB: 2, MAR: 3, APR: 4, MAY: 5, JUN: 6, JUL: 7, AUG: 8, SEP: 9, OCT: 10, NOV: 11, DEC: 12 };
const DAY_NAMES: Record<string, number> = { SUN: 1, MON: 2, TUE: 3, WED: 4, THU: 5, FRI: 6, SAT: 7 };

type DomRule =
  | { readonly kind: 'any' }
  | { readonly kind: 'set'; readonly days: readonly boolean[] }
  | { readonly kind: 'last' }
  | { readonly kind: 'lastWeekday' }
  | { readonly kind: 'nearestWeekday'; readonly day: number };

type DowRule =
  | { readonly kind: 'any' }
  | { readonly kind: 'set'; readonly days: readonly boolean[] }
  | { readonly kind: 'lastOf'; readonly dow: number }
  | { readonly kind: 'nth'; readonly dow: number; readonly n: number };

interface Cron {
  readonly minutes: readonly number[];
  readonly hours: readonly number[];
  readonly months: readonly boolean[];
  /** Sorted; undefined for every year. */
  readonly years: readonly number[] | undefined;
  readonly dom: DomRule;
  readonly dow: DowRule;
}

/** Values of one list field ("*", "a", "a-b", "a/s", "a-b/s", "*\/s", comma separated; a-b wraps when a > b). */
function listValues(field: string, lo: number, hi: number, names: Record<string, number> = {}): boolean[] {
  const out = new Array<boolean>(hi + 1).fill(false);
  const value = (t: string): number => {
    const n = t in names ? names[t]! : Number(t);
    if (!Number.isInteger(n) || n < lo || n > hi) throw new Error(`"${t}" is not in ${lo}-${hi}`);
    return n;
  };
  for (const part of field.split(',')) {
    const [range, stepText] = part.split('/') as [string, string | undefined];
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) throw new Error(`step "${stepText}" must be a positive integer`);
    let a: number;
    let b: number;
    if (range === '*') [a, b] = [lo, hi];
    else if (range.includes('-')) [a, b] = range.split('-').map(value) as [number, number];
    else [a, b] = [value(range), stepText === undefined ? value(range) : hi];
    const span = a <= b ? b - a : hi - a + 1 + b - lo;
    for (let i = 0; i <= span; i += step) out[a + i > hi ? a + i - (hi - lo + 1) : a + i] = true;
  }
  return out;
}

const indices = (set: readonly boolean[]) => set.flatMap((on, i) => (on ? [i] : []));

function parseDom(field: string): DomRule {
  if (field === '?' || field === '*') return { kind: 'any' };
  if (field === 'L') return { kind: 'last' };
  if (field === 'LW') return { kind: 'lastWeekday' };
  const w = /^(\d{1,2})W$/.exec(field);
  if (w) return { kind: 'nearestWeekday', day: Number(w[1]) };
  return { kind: 'set', days: listValues(field, 1, 31) };
}

function parseDow(field: string): DowRule {
  if (field === '?' || field === '*') return { kind: 'any' };
  if (field === 'L') return { kind: 'set', days: listValues('7', 1, 7) };
  const last = /^([1-7]|[A-Z]{3})L$/.exec(field);
  if (last) return { kind: 'lastOf', dow: DAY_NAMES[last[1]!] ?? Number(last[1]) };
  const nth = /^([1-7]|[A-Z]{3})#([1-5])$/.exec(field);
  if (nth) return { kind: 'nth', dow: DAY_NAMES[nth[1]!] ?? Number(nth[1]), n: Number(nth[2]) };
  return { kind: 'set', days: listValues(field, 1, 7, DAY_NAMES) };
}

const cronCache = new Map<string, Cron>();

/** Parses a 6-field cron body; throws on what it cannot read (the schema has refused those already). */
export function parseCron(body: string): Cron {
  const cached = cronCache.get(body);
  if (cached) return cached;
  const fields = body.trim().toUpperCase().replace(/^CRON\((.*)\)$/, '$1').split(/\s+/);
  if (fields.length !== 6) throw new Error(`cron "${body}" needs 6 fields`);
  const [min, hour, dom, month, dow, year] = fields as [string, string, string, string, string, string];
  const cron: Cron = {
    minutes: indices(listValues(min, 0, 59)),
    hours: indices(listValues(hour, 0, 23)),
    months: listValues(month, 1, 12, MONTH_NAMES),
    years: year === '*' ? undefined : indices(listValues(year, FIRST_YEAR, LAST_YEAR)).filter((y) => y >= FIRST_YEAR),
    dom: parseDom(dom),
    dow: parseDow(dow),
  };
  if (cronCache.size > 1000) cronCache.clear();
  cronCache.set(body, cron);
  return cron;
}

/** Period of a rate body ("15 minutes", "rate(1 day)") in ms. */
export function ratePeriodMs(body: string): number {
  const m = /^(?:rate\()?\s*(\d+)\s+(minutes?|hours?|days?)\s*\)?$/i.exec(body.trim());
  if (!m || Number(m[1]) < 1) throw new Error(`rate "${body}" is not "N minutes|hours|days"`);
  const unit = m[2]!.toLowerCase();
  return Number(m[1]) * (unit.startsWith('minute') ? MINUTE : unit.startsWith('hour') ? HOUR : DAY);
}

// ---- calendar helpers on "local days": days since 1970-01-01 of a wall-clock date ----

const ymd = (day: number) => {
  const d = new Date(day * DAY);
  return { y: d.getUTCFullYear(), m: d.getUTCMonth() + 1, d: d.getUTCDate() };
};
const dayOf = (y: number, m: number, d: number) => Date.UTC(y, m - 1, d) / DAY;
const daysIn = (y: number, m: number) => new Date(Date.UTC(y, m, 0)).getUTCDate();
/** EventBridge day of week, 1 = SUN ... 7 = SAT. */
const weekday = (y: number, m: number, d: number) => new Date(Date.UTC(y, m - 1, d)).getUTCDay() + 1;

function domMatches(rule: DomRule, y: number, m: number, d: number): boolean {
  switch (rule.kind) {
    case 'any':
      return true;
    case 'set':
      return rule.days[d] === true;
    case 'last':
      return d === daysIn(y, m);
    case 'lastWeekday': {
      const last = daysIn(y, m);
      const wd = weekday(y, m, last);
      return d === (wd === 7 ? last - 1 : wd === 1 ? last - 2 : last);
    }
    case 'nearestWeekday': {
      const last = daysIn(y, m);
      if (rule.day > last) return false;
      const wd = weekday(y, m, rule.day);
      let target = rule.day;
      if (wd === 7) target = rule.day > 1 ? rule.day - 1 : rule.day + 2;
      else if (wd === 1) target = rule.day < last ? rule.day + 1 : rule.day - 2;
      return d === target;
    }
  }
}

function dowMatches(rule: DowRule, y: number, m: number, d: number): boolean {
  if (rule.kind === 'any') return true;
  const wd = weekday(y, m, d);
  switch (rule.kind) {
    case 'set':
      return rule.days[wd] === true;
    case 'lastOf':
      return wd === rule.dow && d + 7 > daysIn(y, m);
    case 'nth':
      return wd === rule.dow && Math.ceil(d / 7) === rule.n;
  }
}

// ---- time-zone offsets ----

const formatters = new Map<string, Intl.DateTimeFormat>();
const offsets = new Map<string, Map<number, number>>();
const QUARTER = 15 * MINUTE;

/** Offset of a zone at an instant (local wall clock minus UTC), in ms. */
export function zoneOffset(timeZone: string, at: number): number {
  if (timeZone === 'UTC' || timeZone === 'Etc/UTC') return 0;
  const bucket = Math.floor(at / QUARTER) * QUARTER;
  let cache = offsets.get(timeZone);
  if (!cache) offsets.set(timeZone, (cache = new Map()));
  const hit = cache.get(bucket);
  if (hit !== undefined) return hit;
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    formatters.set(timeZone, f);
  }
  const p: Record<string, number> = {};
  for (const part of f.formatToParts(new Date(bucket))) if (part.type !== 'literal') p[part.type] = Number(part.value);
  const offset = Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!) - bucket;
  if (cache.size > 50_000) cache.clear();
  cache.set(bucket, offset);
  return offset;
}

/**
 * The instant at which a zone's wall clock shows `local` (wall-clock ms as if UTC): undefined
 * when a spring-forward change skips it, the earlier instant when a fall-back change repeats it.
 */
export function localToInstant(local: number, timeZone: string): number | undefined {
  const before = zoneOffset(timeZone, local - DAY);
  const after = zoneOffset(timeZone, local + DAY);
  if (before === after) return local - before;
  let best: number | undefined;
  for (const o of [before, after]) {
    const t = local - o;
    if (zoneOffset(timeZone, t) === o && (best === undefined || t < best)) best = t;
  }
  return best;
}

// ---- the search ----

function firstDayAtOrAfter(cron: Cron, from: number, lastDay: number, visit: (day: number) => number | undefined): number | undefined {
  let day = from;
  while (day <= lastDay) {
    const { y, m, d } = ymd(day);
    if (cron.years && !cron.years.includes(y)) {
      const next = cron.years.find((v) => v > y);
      if (next === undefined) return undefined;
      day = dayOf(next, 1, 1);
      continue;
    }
    if (!cron.months[m]) {
      day = dayOf(y, m + 1, 1);
      continue;
    }
    if (domMatches(cron.dom, y, m, d) && dowMatches(cron.dow, y, m, d)) {
      const hit = visit(day);
      if (hit !== undefined) return hit;
    }
    day++;
  }
  return undefined;
}

function lastDayAtOrBefore(cron: Cron, from: number, firstDay: number, visit: (day: number) => number | undefined): number | undefined {
  let day = from;
  while (day >= firstDay) {
    const { y, m, d } = ymd(day);
    if (cron.years && !cron.years.includes(y)) {
      const prev = cron.years.findLast((v) => v < y);
      if (prev === undefined) return undefined;
      day = dayOf(prev, 12, 31);
      continue;
    }
    if (!cron.months[m]) {
      day = dayOf(y, m, 1) - 1;
      continue;
    }
    if (domMatches(cron.dom, y, m, d) && dowMatches(cron.dow, y, m, d)) {
      const hit = visit(day);
      if (hit !== undefined) return hit;
    }
    day--;
  }
  return undefined;
}

function cronNext(cron: Cron, timeZone: string, after: number): number | undefined {
  const afterLocal = after + zoneOffset(timeZone, after);
  const floor = afterLocal - SHIFT_MARGIN;
  return firstDayAtOrAfter(cron, Math.floor(floor / DAY), dayOf(LAST_YEAR, 12, 31), (day) => {
    for (const h of cron.hours) {
      const hourStart = day * DAY + h * HOUR;
      if (hourStart + HOUR <= floor) continue;
      for (const mi of cron.minutes) {
        const local = hourStart + mi * MINUTE;
        if (local < floor) continue;
        const t = localToInstant(local, timeZone);
        if (t !== undefined && t > after) return t;
      }
    }
    return undefined;
  });
}

function cronPrevious(cron: Cron, timeZone: string, at: number): number | undefined {
  const atLocal = at + zoneOffset(timeZone, at);
  const ceiling = atLocal + SHIFT_MARGIN;
  const hours = [...cron.hours].reverse();
  const minutes = [...cron.minutes].reverse();
  return lastDayAtOrBefore(cron, Math.floor(ceiling / DAY), dayOf(FIRST_YEAR, 1, 1), (day) => {
    for (const h of hours) {
      const hourStart = day * DAY + h * HOUR;
      if (hourStart > ceiling) continue;
      for (const mi of minutes) {
        const local = hourStart + mi * MINUTE;
        if (local > ceiling) continue;
        const t = localToInstant(local, timeZone);
        if (t !== undefined && t <= at) return t;
      }
    }
    return undefined;
  });
}

/**
 * For a cron fire time whose wall-clock time a fall-back change repeats, the later of the two
 * instants; undefined otherwise (and for rates). The docs do not say which instant runs, so a
 * careful caller waits for the later one before calling a run late.
 */
export function repeatedAt(schedule: Cadence, fire: Date): Date | undefined {
  if (schedule.cron === undefined || schedule.rate !== undefined) return undefined;
  const zone = schedule.timezone ?? 'UTC';
  const t = fire.getTime();
  const local = t + zoneOffset(zone, t);
  const later = [zoneOffset(zone, local - DAY), zoneOffset(zone, local + DAY)]
    .map((o) => local - o)
    .filter((u) => u > t && zoneOffset(zone, u) === local - u);
  return later.length ? new Date(Math.max(...later)) : undefined;
}

/**
 * The latest fire time at or before `at`; undefined when there is none (a rate before its
 * anchor, a cron whose years are all later).
 */
export function previousFire(schedule: Cadence, at: Date, anchor?: Date): Date | undefined {
  const t = at.getTime();
  if (schedule.rate !== undefined) {
    const period = ratePeriodMs(schedule.rate);
    const start = anchor?.getTime() ?? 0;
    if (t < start) return undefined;
    return new Date(start + Math.floor((t - start) / period) * period);
  }
  if (schedule.cron === undefined) return undefined;
  const r = cronPrevious(parseCron(schedule.cron), schedule.timezone ?? 'UTC', t);
  return r === undefined ? undefined : new Date(r);
}

/** The earliest fire time strictly after `after`; undefined when there is none. */
export function nextFire(schedule: Cadence, after: Date, anchor?: Date): Date | undefined {
  const t = after.getTime();
  if (schedule.rate !== undefined) {
    const period = ratePeriodMs(schedule.rate);
    const start = anchor?.getTime() ?? 0;
    if (t < start) return new Date(start);
    return new Date(start + (Math.floor((t - start) / period) + 1) * period);
  }
  if (schedule.cron === undefined) return undefined;
  const r = cronNext(parseCron(schedule.cron), schedule.timezone ?? 'UTC', t);
  return r === undefined ? undefined : new Date(r);
}
