/**
 * Retention as a pure plan over the backup runs of one host: grandfather-father-son over
 * verified runs, with guards that make it impossible to lose the last good copy.
 *
 * - Nothing is deleted unless the newest run is complete and verified.
 * - The newest verified run, and the last `keepLast` verified runs, are always kept.
 * - Besides those: the newest verified run of each of the last `daily` days, `weekly` ISO
 *   weeks and `monthly` months that have one.
 * - Runs that are incomplete (no manifest) or unverified never count as backups; they are
 *   removed once older than `staleDays` and older than a verified run.
 * - Differentials: a run whose differential archives build on an earlier run's fulls names
 *   that run in `dependsOn` (its depends-on/<stamp> markers). A kept run keeps every run it
 *   depends on (and theirs), so a base goes only together with, or after, every run that
 *   needs it; and nothing is deleted unless the newest run's chain is whole: every run it
 *   depends on is there, complete and verified.
 */
export interface BackupRun {
  /** S3 prefix of the run, ending in its UTC timestamp (e.g. backups/web/i-1/20261121T020000Z). */
  readonly prefix: string;
  readonly at: number;
  readonly complete: boolean;
  readonly verified: boolean;
  /** Prefixes of the runs this run's differentials apply on top of (same form as `prefix`). */
  readonly dependsOn?: readonly string[];
}

export interface RetentionRules {
  readonly keepLast: number;
  readonly daily: number;
  readonly weekly: number;
  readonly monthly: number;
  /** Age after which incomplete or unverified runs go. @default 14 */
  readonly staleDays?: number;
}

export interface Decision {
  readonly prefix: string;
  readonly action: 'keep' | 'delete';
  readonly reasons: string[];
}

const DAY = 86_400_000;
const dayKey = (t: number) => new Date(t).toISOString().slice(0, 10);
const monthKey = (t: number) => new Date(t).toISOString().slice(0, 7);
function isoWeekKey(t: number): string {
  const d = new Date(t);
  const day = (d.getUTCDay() + 6) % 7;
  const thursday = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() - day + 3));
  const firstThursday = new Date(Date.UTC(thursday.getUTCFullYear(), 0, 4));
  const week = 1 + Math.round((thursday.getTime() - firstThursday.getTime()) / (7 * DAY) - ((firstThursday.getUTCDay() + 6) % 7 - 3) / 7);
  return `${thursday.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}

/** Run time from its prefix; undefined when the prefix does not end in a timestamp. */
export function runTime(prefix: string): number | undefined {
  const m = /(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z\/?$/.exec(prefix);
  return m ? Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) : undefined;
}

export function planRetention(runs: readonly BackupRun[], rules: RetentionRules, now: number): Decision[] {
  const byNewest = [...runs].sort((a, b) => b.at - a.at);
  const reasons = new Map<string, string[]>(byNewest.map((r) => [r.prefix, []]));
  const keep = (r: BackupRun, why: string) => reasons.get(r.prefix)!.push(why);
  const good = byNewest.filter((r) => r.complete && r.verified);
  const newest = byNewest[0];
  const guarded = !newest || !(newest.complete && newest.verified);

  good.slice(0, Math.max(1, rules.keepLast)).forEach((r, i) => keep(r, i === 0 ? 'newest verified' : `last ${rules.keepLast}`));
  for (const [count, key, label] of [[rules.daily, dayKey, 'daily'], [rules.weekly, isoWeekKey, 'weekly'], [rules.monthly, monthKey, 'monthly']] as const) {
    const seen = new Set<string>();
    for (const r of good) {
      const k = key(r.at);
      if (seen.has(k)) continue;
      if (seen.size >= count) break;
      seen.add(k);
      keep(r, `${label} ${k}`);
    }
  }
  const staleBefore = now - (rules.staleDays ?? 14) * DAY;
  const newestGood = good[0]?.at ?? -Infinity;
  const byPrefix = new Map(byNewest.map((r) => [r.prefix, r]));
  const broken = newest && !guarded ? brokenLink(newest, byPrefix) : undefined;
  const decisions = byNewest.map((r): Decision => {
    const why = reasons.get(r.prefix)!;
    if (guarded) return { prefix: r.prefix, action: 'keep', reasons: [...why, 'the newest run is not complete and verified: nothing is deleted'] };
    if (broken) return { prefix: r.prefix, action: 'keep', reasons: [...why, `the newest run's chain is not whole (${broken}): nothing is deleted`] };
    if (why.length) return { prefix: r.prefix, action: 'keep', reasons: why };
    if (!(r.complete && r.verified)) {
      const stale = r.at < staleBefore && r.at < newestGood;
      return { prefix: r.prefix, action: stale ? 'delete' : 'keep', reasons: [stale ? `${r.complete ? 'unverified' : 'incomplete'} and older than ${rules.staleDays ?? 14} days` : `${r.complete ? 'unverified' : 'incomplete'}, kept for inspection`] };
    }
    return { prefix: r.prefix, action: 'delete', reasons: ['outside every retention rule'] };
  });
  // A kept run keeps the runs it builds on, and theirs.
  const decided = new Map(decisions.map((d) => [d.prefix, d]));
  const todo = decisions.filter((d) => d.action === 'keep').map((d) => d.prefix);
  while (todo.length) {
    const kept = todo.pop()!;
    for (const base of byPrefix.get(kept)?.dependsOn ?? []) {
      const d = decided.get(base);
      if (!d) continue;
      if (d.action === 'delete') {
        d.reasons.length = 0;
        Object.assign(d, { action: 'keep' });
        todo.push(base);
      }
      if (!d.reasons.includes(`base of ${kept}`)) d.reasons.push(`base of ${kept}`);
    }
  }
  return decisions;
}

/** Why the chain of <run> is not whole (a run it depends on is missing, incomplete or unverified), or undefined. */
function brokenLink(run: BackupRun, byPrefix: ReadonlyMap<string, BackupRun>): string | undefined {
  const seen = new Set<string>([run.prefix]);
  const todo = [run];
  while (todo.length) {
    for (const p of todo.pop()!.dependsOn ?? []) {
      if (seen.has(p)) continue;
      seen.add(p);
      const base = byPrefix.get(p);
      if (!base) return `${p} is missing`;
      if (!(base.complete && base.verified)) return `${p} is ${base.complete ? 'unverified' : 'incomplete'}`;
      todo.push(base);
    }
  }
  return undefined;
}

/**
 * The order to delete runs in: waves, each wave holding only runs that no run still there
 * depends on, so a base is deleted after every run that needs it.
 */
export function deletionWaves(runs: readonly BackupRun[], doomed: readonly string[]): string[][] {
  const left = new Set(doomed);
  const waves: string[][] = [];
  while (left.size) {
    const needed = new Set(runs.filter((r) => left.has(r.prefix)).flatMap((r) => r.dependsOn ?? []));
    let wave = [...left].filter((p) => !needed.has(p));
    if (!wave.length) wave = [...left]; // a cycle of markers (never written by backup.sh): all at once
    wave.forEach((p) => left.delete(p));
    waves.push(wave);
  }
  return waves;
}
