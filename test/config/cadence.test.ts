import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nextFire, previousFire, repeatedAt, type Cadence } from '../../lib/config/cadence.js';
import { cronProblem } from '../../lib/config/cron.js';

const ZONES = ['UTC', 'Europe/Berlin', 'America/New_York', 'Australia/Sydney', 'Asia/Kolkata'] as const;
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const iso = (s: string) => new Date(s);

// ---- an independent oracle: minute by minute, wall clock read from Intl each time ----

const formatters = new Map<string, Intl.DateTimeFormat>();
function wall(ms: number, zone: string) {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-GB', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', weekday: 'short' });
    formatters.set(zone, f);
  }
  const p = Object.fromEntries(f.formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  return { y: +p.year!, mo: +p.month!, d: +p.day!, h: +p.hour!, mi: +p.minute!, dow: ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'].indexOf(p.weekday!) + 1 };
}
const sameWall = (a: ReturnType<typeof wall>, b: ReturnType<typeof wall>) => a.y === b.y && a.mo === b.mo && a.d === b.d && a.h === b.h && a.mi === b.mi;

/** The spec generators below produce; matched naively. */
interface Spec { minutes: number[]; hours: number[]; dom: '?' | '*' | 'L' | number[] | { w: number }; dow: '?' | number[] | { nth: [number, number] } | { last: number } }

const lastDay = (y: number, mo: number) => new Date(Date.UTC(y, mo, 0)).getUTCDate();
const dowOf = (y: number, mo: number, d: number) => new Date(Date.UTC(y, mo - 1, d)).getUTCDay() + 1;

function dayMatches(s: Spec, w: ReturnType<typeof wall>): boolean {
  const { y, mo, d, dow } = w;
  if (s.dom === 'L' && d !== lastDay(y, mo)) return false;
  if (Array.isArray(s.dom) && !s.dom.includes(d)) return false;
  if (typeof s.dom === 'object' && !Array.isArray(s.dom)) {
    // nearest weekday to s.dom.w within the month, by looking at candidates
    const n = s.dom.w;
    if (n > lastDay(y, mo)) return false;
    const candidates = [n, n - 1, n + 1, n - 2, n + 2].filter((c) => c >= 1 && c <= lastDay(y, mo) && dowOf(y, mo, c) !== 1 && dowOf(y, mo, c) !== 7);
    const wd = dowOf(y, mo, n);
    const target = wd !== 1 && wd !== 7 ? n : wd === 7 ? (n > 1 ? n - 1 : n + 2) : n < lastDay(y, mo) ? n + 1 : n - 2;
    if (!candidates.includes(target) || d !== target) return false;
  }
  if (Array.isArray(s.dow) && !s.dow.includes(dow)) return false;
  if (typeof s.dow === 'object' && 'nth' in s.dow && (dow !== s.dow.nth[0] || Math.floor((d - 1) / 7) + 1 !== s.dow.nth[1])) return false;
  if (typeof s.dow === 'object' && 'last' in s.dow && (dow !== s.dow.last || d + 7 <= lastDay(y, mo))) return false;
  return true;
}

/** Fire instants in [from, to] by brute force: the wall clock matches, and it is the first instant showing that wall time. */
function oracle(s: Spec, zone: string, from: number, to: number): number[] {
  const out: number[] = [];
  for (let t = Math.ceil(from / MIN) * MIN; t <= to; t += MIN) {
    const w = wall(t, zone);
    if (!s.minutes.includes(w.mi) || !s.hours.includes(w.h) || !dayMatches(s, w)) continue;
    if ([30 * MIN, HOUR, 2 * HOUR].some((back) => sameWall(wall(t - back, zone), w))) continue;
    out.push(t);
  }
  return out;
}

const list = (xs: number[]) => xs.join(',');
function cronOf(s: Spec): string {
  const dom = s.dom === '?' || s.dom === '*' || s.dom === 'L' ? s.dom : Array.isArray(s.dom) ? list(s.dom) : `${s.dom.w}W`;
  const dow = s.dow === '?' ? '?' : Array.isArray(s.dow) ? list(s.dow) : 'nth' in s.dow ? `${s.dow.nth[0]}#${s.dow.nth[1]}` : `${s.dow.last}L`;
  return `${list(s.minutes)} ${list(s.hours)} ${dom} * ${dow} *`;
}

const sorted = (a: fc.Arbitrary<number[]>) => a.map((xs) => [...new Set(xs)].sort((x, y) => x - y));
const specArb: fc.Arbitrary<Spec> = fc.record({
  minutes: sorted(fc.array(fc.integer({ min: 0, max: 59 }), { minLength: 1, maxLength: 4 })),
  // hours around the usual DST changes (0-3) are common, to exercise them
  hours: sorted(fc.array(fc.oneof(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 23 })), { minLength: 1, maxLength: 4 })),
  day: fc.oneof(
    fc.constant({ dom: '*' as const, dow: '?' as const }),
    sorted(fc.array(fc.integer({ min: 1, max: 31 }), { minLength: 1, maxLength: 3 })).map((d) => ({ dom: d, dow: '?' as const })),
    fc.constant({ dom: 'L' as const, dow: '?' as const }),
    fc.integer({ min: 1, max: 31 }).map((w) => ({ dom: { w }, dow: '?' as const })),
    sorted(fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 3 })).map((d) => ({ dom: '?' as const, dow: d })),
    fc.tuple(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 5 })).map((nth) => ({ dom: '?' as const, dow: { nth } })),
    fc.integer({ min: 1, max: 7 }).map((last) => ({ dom: '?' as const, dow: { last } })),
  ),
}).map(({ minutes, hours, day }) => ({ minutes, hours, ...day }) as Spec);

/** Instants near the DST changes of 2026 in the zones above, and anywhere else. */
const DST_EDGES = ['2026-03-08T06:00Z', '2026-03-29T00:30Z', '2026-04-05T15:00Z', '2026-10-04T15:30Z', '2026-10-25T00:30Z', '2026-11-01T05:30Z'].map((s) => Date.parse(s));
const instantArb = fc.oneof(
  fc.tuple(fc.constantFrom(...DST_EDGES), fc.integer({ min: -3 * DAY, max: 3 * DAY })).map(([e, d]) => e + d),
  fc.integer({ min: Date.parse('2025-01-01T00:00Z'), max: Date.parse('2028-12-31T00:00Z') }),
);

describe('cadence: cron', () => {
  it('a 02:30 daily cron skips the spring-forward day in Berlin and runs once on the fall-back day', () => {
    // Prepare
    const s: Cadence = { cron: '30 2 * * ? *', timezone: 'Europe/Berlin' };
    // Act
    const afterSaturday = nextFire(s, iso('2026-03-28T02:00Z'));
    const afterFallBackRun = nextFire(s, iso('2026-10-25T00:30Z'));
    // Assess: 2026-03-29 02:30 does not exist in Berlin; 2026-10-25 02:30 exists twice (00:30Z, 01:30Z) and runs at the first
    expect(afterSaturday).toEqual(iso('2026-03-30T00:30Z'));
    expect(nextFire(s, iso('2026-10-24T12:00Z'))).toEqual(iso('2026-10-25T00:30Z'));
    expect(afterFallBackRun).toEqual(iso('2026-10-26T01:30Z'));
    expect(previousFire(s, iso('2026-03-30T00:00Z'))).toEqual(iso('2026-03-28T01:30Z'));
    expect(repeatedAt(s, iso('2026-10-25T00:30Z'))).toEqual(iso('2026-10-25T01:30Z'));
    expect(repeatedAt(s, iso('2026-10-26T01:30Z'))).toBeUndefined();
    expect(repeatedAt({ cron: '30 1 * * ? *', timezone: 'America/New_York' }, iso('2026-11-01T05:30Z'))).toEqual(iso('2026-11-01T06:30Z'));
  });

  it('reads names, steps, ranges, L, W and # as EventBridge does', () => {
    // Prepare
    const at = iso('2026-11-22T10:00Z'); // a Sunday
    // Act, Assess
    expect(nextFire({ cron: '0/15 9-17 ? * MON-FRI *' }, at)).toEqual(iso('2026-11-23T09:00Z'));
    expect(nextFire({ cron: '0 5 L * ? *' }, at)).toEqual(iso('2026-11-30T05:00Z'));
    expect(nextFire({ cron: '0 5 LW JAN ? *' }, at)).toEqual(iso('2027-01-29T05:00Z')); // 31 Jan 2027 is a Sunday
    expect(nextFire({ cron: '0 5 1W * ? *' }, iso('2026-11-01T00:00Z'))).toEqual(iso('2026-11-02T05:00Z')); // 1 Nov 2026 is a Sunday
    expect(nextFire({ cron: '0 5 ? * 6#3 *' }, at)).toEqual(iso('2026-12-18T05:00Z'));
    expect(nextFire({ cron: '0 5 ? * 2L *' }, at)).toEqual(iso('2026-11-30T05:00Z'));
    expect(nextFire({ cron: '0 0 29 FEB ? *' }, at)).toEqual(iso('2028-02-29T00:00Z'));
    expect(nextFire({ cron: '0 0 1 1 ? 2030' }, at)).toEqual(iso('2030-01-01T00:00Z'));
    expect(previousFire({ cron: '0 0 1 1 ? 2020-2022' }, at)).toEqual(iso('2022-01-01T00:00Z'));
    expect(nextFire({ cron: '0 0 1 1 ? 2020' }, at)).toBeUndefined();
    expect(nextFire({ cron: '30 23 ? * FRI-MON *', timezone: 'Asia/Kolkata' }, at)).toEqual(iso('2026-11-22T18:00Z'));
  });

  it('agrees with a minute-by-minute oracle on random windows in five zones, across DST changes', () => {
    fc.assert(
      fc.property(specArb, fc.constantFrom(...ZONES), instantArb, (spec, zone, start) => {
        // Prepare
        const s: Cadence = { cron: cronOf(spec), timezone: zone };
        expect(cronProblem(s.cron!)).toBeNull();
        const first = nextFire(s, new Date(start))!.getTime();
        const from = first - 4 * HOUR;
        const end = first + 4 * HOUR;
        // Act: walk with nextFire through the window
        const walked: number[] = [];
        for (let t = nextFire(s, new Date(from - 1)); t && t.getTime() <= end; t = nextFire(s, t)) walked.push(t.getTime());
        // Assess
        expect(walked).toContain(first);
        expect(walked).toEqual(oracle(spec, zone, from, end));
      }),
      { numRuns: 150 },
    );
  });

  it('agrees with the oracle over whole DST-change days: skipped times never run, repeated times run once', () => {
    const zoneEdges: [string, string][] = [
      ['Europe/Berlin', '2026-03-29T01:00Z'], ['Europe/Berlin', '2026-10-25T01:00Z'],
      ['America/New_York', '2026-03-08T07:00Z'], ['America/New_York', '2026-11-01T06:00Z'],
      ['Australia/Sydney', '2026-04-04T16:00Z'], ['Australia/Sydney', '2026-10-03T16:00Z'],
    ];
    const nightly = fc.record({
      minutes: sorted(fc.array(fc.integer({ min: 0, max: 59 }), { minLength: 1, maxLength: 3 })),
      hours: sorted(fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 3 })),
    }).map((x) => ({ ...x, dom: '*', dow: '?' }) as Spec);
    fc.assert(
      fc.property(nightly, fc.constantFrom(...zoneEdges), (spec, [zone, edge]) => {
        // Prepare
        const s: Cadence = { cron: cronOf(spec), timezone: zone };
        const from = Date.parse(edge) - 12 * HOUR;
        const end = Date.parse(edge) + 12 * HOUR;
        // Act
        const walked: number[] = [];
        for (let t = nextFire(s, new Date(from - 1)); t && t.getTime() <= end; t = nextFire(s, t)) walked.push(t.getTime());
        // Assess
        expect(walked).toEqual(oracle(spec, zone, from, end));
      }),
      { numRuns: 40 },
    );
  });

  it('previousFire(nextFire(t)) is nextFire(t), and nothing fires between previousFire(t) and nextFire(t)', () => {
    fc.assert(
      fc.property(specArb, fc.constantFrom(...ZONES), instantArb, (spec, zone, t) => {
        // Prepare
        const s: Cadence = { cron: cronOf(spec), timezone: zone };
        // Act
        const next = nextFire(s, new Date(t))!;
        const prev = previousFire(s, new Date(t))!;
        // Assess
        expect(next.getTime()).toBeGreaterThan(t);
        expect(prev.getTime()).toBeLessThanOrEqual(t);
        expect(previousFire(s, next)).toEqual(next);
        expect(nextFire(s, prev)).toEqual(next);
        expect(previousFire(s, new Date(next.getTime() - 1))).toEqual(prev);
      }),
      { numRuns: 300 },
    );
  });

  it('evaluates 300 stacks x 5 yearly, monthly and minutely crons, both ways, without stepping minute by minute', () => {
    // Prepare
    const crons = ['0 3 1 JAN ? *', '0 4 ? * 1#1 *', '*/5 * * * ? *', '30 2 * * ? *', '0 0 29 2 ? *'];
    const zones = ZONES;
    let count = 0;
    // Act
    for (let i = 0; i < 300; i++) {
      for (const cron of crons) {
        const s = { cron, timezone: zones[i % zones.length] };
        const t = new Date(Date.parse('2026-06-01T00:00Z') + i * 7_919_000);
        if (previousFire(s, t) && nextFire(s, t)) count++;
      }
    }
    // Assess (timing is measured in the report, not asserted)
    expect(count).toBe(1500);
  });
});

describe('cadence: rate', () => {
  it('fires every period from its anchor, 24 hours a day whatever DST does', () => {
    // Prepare
    const s: Cadence = { rate: '1 day', timezone: 'Europe/Berlin' };
    const anchor = iso('2026-03-28T01:30Z');
    // Act
    const next = nextFire(s, iso('2026-03-28T12:00Z'), anchor);
    // Assess
    expect(next).toEqual(iso('2026-03-29T01:30Z'));
    expect(previousFire(s, iso('2026-03-28T01:29Z'), anchor)).toBeUndefined();
    expect(nextFire(s, iso('2026-01-01T00:00Z'), anchor)).toEqual(anchor);
  });

  it('previous and next fires bracket every instant, one period apart', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 500 }), fc.constantFrom('minutes', 'hours', 'days'), instantArb, fc.integer({ min: 0, max: 400 * DAY }),
        (n, unit, anchor, delta) => {
          // Prepare
          const s: Cadence = { rate: `${n} ${unit}` };
          const t = new Date(anchor + delta);
          const period = n * (unit === 'minutes' ? MIN : unit === 'hours' ? HOUR : DAY);
          // Act
          const prev = previousFire(s, t, new Date(anchor))!;
          const next = nextFire(s, t, new Date(anchor))!;
          // Assess
          expect(prev.getTime()).toBeLessThanOrEqual(t.getTime());
          expect(next.getTime()).toBeGreaterThan(t.getTime());
          expect(next.getTime() - prev.getTime()).toBe(period);
          expect((prev.getTime() - anchor) % period).toBe(0);
          expect(previousFire(s, next, new Date(anchor))).toEqual(next);
        },
      ),
      { numRuns: 300 },
    );
  });
});
