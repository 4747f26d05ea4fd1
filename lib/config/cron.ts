/**
 * Validation of EventBridge Scheduler cron and rate expressions, so that a typo fails
 * `cdk synth` with a readable message instead of failing the deploy half way.
 */

const FIELD_NAMES = ['minutes', 'hours', 'day-of-month', 'month', 'day-of-week', 'year'] as const;
const MONTHS = 'JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC';
const DAYS = 'SUN|MON|TUE|WED|THU|FRI|SAT';

function rangeList(atom: string): RegExp {
  // atom[-atom][/step], comma separated, or "*"[/step]
  const item = `(\\*|${atom}(-${atom})?)(\\/\\d{1,4})?`;
  return new RegExp(`^${item}(,${item})*$`);
}

const FIELD_RULES: Record<(typeof FIELD_NAMES)[number], RegExp> = {
  minutes: rangeList('\\d{1,2}'),
  hours: rangeList('\\d{1,2}'),
  'day-of-month': /^(\?|L|LW|\d{1,2}W|(\*|\d{1,2}(-\d{1,2})?)(\/\d{1,2})?(,(\*|\d{1,2}(-\d{1,2})?)(\/\d{1,2})?)*)$/,
  month: rangeList(`(\\d{1,2}|${MONTHS})`),
  'day-of-week': new RegExp(`^(\\?|L|[1-7]L|[1-7]#[1-5]|${rangeList(`([1-7]|${DAYS})`).source.slice(1, -1)})$`),
  year: rangeList('\\d{4}'),
};

const LIMITS: Partial<Record<(typeof FIELD_NAMES)[number], [number, number]>> = {
  minutes: [0, 59],
  hours: [0, 23],
  'day-of-month': [1, 31],
  year: [1970, 2199],
};

/** Returns null when the 6-field cron body is valid, else what is wrong and the expected form. */
export function cronProblem(body: string): string | null {
  const fields = body.trim().split(/\s+/);
  if (fields.length !== 6) {
    return `expected 6 fields "minutes hours day-of-month month day-of-week year" (e.g. "0 9 * * ? *"), got ${fields.length}`;
  }
  for (let i = 0; i < 6; i++) {
    const name = FIELD_NAMES[i]!;
    const value = fields[i]!.toUpperCase();
    if (!FIELD_RULES[name].test(value)) return `field ${name} "${fields[i]}" is not a valid cron field`;
    const limits = LIMITS[name];
    if (limits) {
      for (const n of value.match(/\d+/g) ?? []) {
        const num = Number(n);
        const isStep = value.includes(`/${n}`);
        if (!isStep && (num < limits[0] || num > limits[1])) {
          return `field ${name} "${fields[i]}" is out of range ${limits[0]}-${limits[1]}`;
        }
      }
    }
  }
  const dom = fields[2]!;
  const dow = fields[4]!;
  if ((dom === '?') === (dow === '?')) {
    return 'exactly one of day-of-month and day-of-week must be "?" (e.g. "0 9 * * ? *" daily, "0 2 ? * SUN *" weekly)';
  }
  return null;
}

/** Returns null when "N minute(s)|hour(s)|day(s)" is valid. */
export function rateProblem(body: string): string | null {
  const m = /^(\d{1,5}) (minute|minutes|hour|hours|day|days)$/.exec(body.trim());
  if (!m) return 'expected "N minutes", "N hours" or "N days" (e.g. "15 minutes")';
  const n = Number(m[1]);
  if (n < 1) return 'the rate must be at least 1';
  if ((n === 1) !== !m[2]!.endsWith('s')) return `write "${n} ${n === 1 ? m[2]!.replace(/s$/, '') : m[2]!.replace(/s?$/, 's')}"`;
  return null;
}

/** EventBridge numbers days 1 (SUN) to 7 (SAT). */
const DAY_NUMBERS: Record<string, number> = { SUN: 1, MON: 2, TUE: 3, WED: 4, THU: 5, FRI: 6, SAT: 7 };

/** Values a cron field admits within [lo, hi]; undefined for "*" or "?". */
function fieldValues(field: string, lo: number, hi: number, names: Record<string, number> = {}): number[] | undefined {
  if (field === '*' || field === '?') return undefined;
  const out = new Set<number>();
  for (const part of field.toUpperCase().split(',')) {
    const [range, stepText] = part.split('/');
    const step = stepText ? Number(stepText) : 1;
    const value = (t: string) => (t in names ? names[t]! : Number(t));
    let [a, b] = range === '*' ? [lo, hi] : range!.split('-').map(value) as [number, number?];
    if (b === undefined) b = stepText ? hi : a;
    for (let v = a!; v <= b; v += step) out.add(v);
  }
  return [...out].filter((v) => Number.isFinite(v)).sort((x, y) => x - y);
}

/** Largest gap between consecutive values on a circle of `size`. */
function largestGap(values: number[], size: number): number {
  if (values.length <= 1) return size;
  let gap = values[0]! + size - values[values.length - 1]!;
  for (let i = 1; i < values.length; i++) gap = Math.max(gap, values[i]! - values[i - 1]!);
  return gap;
}

/**
 * Longest time between two runs of a schedule, in minutes: exact for rates, an upper bound
 * for cron. The missed-run alarm waits this long plus a grace period.
 */
export function maxGapMinutes(schedule: { cron?: string | undefined; rate?: string | undefined }): number {
  if (schedule.rate) {
    const [n, unit] = schedule.rate.trim().split(' ');
    return Number(n) * (unit!.startsWith('minute') ? 1 : unit!.startsWith('hour') ? 60 : 1440);
  }
  const [min, hour, dom, , dow] = (schedule.cron ?? '').trim().split(/\s+/) as [string, string, string, string, string];
  const dows = fieldValues(dow.replace(/[L#].*$/, ''), 1, 7, DAY_NUMBERS);
  if (dom !== '*' && dom !== '?') return 31 * 1440;
  if (dows) return largestGap(dows.map((d) => d - 1), 7) * 1440;
  const hours = fieldValues(hour, 0, 23);
  const minutes = fieldValues(min, 0, 59);
  if (!hours) return minutes ? largestGap(minutes, 60) : 1;
  return largestGap(hours, 24) * 60;
}
