import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planRetention, runTime, type BackupRun } from '../../../lambdas/retention/plan.js';

const DAY = 86_400_000;
const now = Date.parse('2026-11-22T03:00:00Z');
const stamp = (t: number) => new Date(t).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
const run = (daysAgo: number, complete = true, verified = true): BackupRun => {
  const at = now - daysAgo * DAY;
  return { prefix: `backups/web/i-1/${stamp(at)}`, at, complete, verified };
};
const deleted = (runs: BackupRun[], rules = { keepLast: 2, daily: 3, weekly: 0, monthly: 0 }) =>
  planRetention(runs, rules, now).filter((d) => d.action === 'delete').map((d) => d.prefix);

describe('planRetention', () => {
  it('keeps the last N and one per day for D days, and deletes the rest', () => {
    // 22 Nov 03:00, 21 Nov 15:00, 21 Nov 03:00, 20 Nov, 19 Nov, 18 Nov, 17 Nov
    const runs = [0, 0.5, 1, 2, 3, 4, 5].map((d) => run(d));
    // last 2: the first two; daily 3: 22 Nov, 21 Nov (its newest), 20 Nov
    expect(deleted(runs)).toEqual([runs[2]!.prefix, runs[4]!.prefix, runs[5]!.prefix, runs[6]!.prefix]);
  });

  it('keeps one per ISO week and per month', () => {
    const runs = Array.from({ length: 120 }, (_, i) => run(i));
    const kept = planRetention(runs, { keepLast: 1, daily: 0, weekly: 4, monthly: 3 }, now).filter((d) => d.action === 'keep');
    expect(kept.length).toBeLessThanOrEqual(1 + 4 + 3);
    expect(kept.length).toBeGreaterThanOrEqual(4);
    expect(kept[0]!.reasons).toContain('newest verified');
  });

  it('deletes nothing while the newest run is not verified', () => {
    const runs = [run(0, true, false), ...[1, 2, 3, 4, 5, 6].map((d) => run(d))];
    expect(deleted(runs)).toEqual([]);
    expect(deleted([run(0, false, false), run(30, false, false), run(40)])).toEqual([]);
  });

  it('removes stale incomplete and unverified runs only when a newer verified run exists', () => {
    const runs = [run(0), run(20, false, false), run(21, true, false), run(3, false, false)];
    expect(deleted(runs, { keepLast: 5, daily: 0, weekly: 0, monthly: 0 }).sort()).toEqual([runs[1]!.prefix, runs[2]!.prefix].sort());
  });

  it('reads run times from prefixes', () => {
    expect(runTime('backups/web/i-1/20261121T020304Z')).toBe(Date.parse('2026-11-21T02:03:04Z'));
    expect(runTime('backups/web/i-1/latest')).toBeUndefined();
  });

  describe('properties over generated histories', () => {
    const histories = fc.array(fc.record({ daysAgo: fc.float({ min: 0, max: 400, noNaN: true }), complete: fc.boolean(), verified: fc.boolean() }), { minLength: 0, maxLength: 60 })
      .map((xs) => {
        const seen = new Set<string>();
        return xs.map((x) => run(x.daysAgo, x.complete, x.complete && x.verified)).filter((r) => !seen.has(r.prefix) && seen.add(r.prefix));
      });
    const rules = fc.record({ keepLast: fc.integer({ min: 1, max: 10 }), daily: fc.integer({ min: 0, max: 14 }), weekly: fc.integer({ min: 0, max: 8 }), monthly: fc.integer({ min: 0, max: 12 }) });

    it('never deletes the newest verified run nor the last N verified runs, and decides once per run', () => {
      fc.assert(fc.property(histories, rules, (runs, r) => {
        const plan = planRetention(runs, r, now);
        expect(plan.map((d) => d.prefix).sort()).toEqual(runs.map((x) => x.prefix).sort());
        const good = runs.filter((x) => x.complete && x.verified).sort((a, b) => b.at - a.at);
        const gone = new Set(plan.filter((d) => d.action === 'delete').map((d) => d.prefix));
        for (const g of good.slice(0, r.keepLast)) expect(gone.has(g.prefix)).toBe(false);
      }), { numRuns: 400 });
    });

    it('deletes nothing unless the newest run is complete and verified', () => {
      fc.assert(fc.property(histories, rules, (runs, r) => {
        const newest = [...runs].sort((a, b) => b.at - a.at)[0];
        const gone = planRetention(runs, r, now).filter((d) => d.action === 'delete');
        if (!newest || !(newest.complete && newest.verified)) expect(gone).toEqual([]);
      }), { numRuns: 400 });
    });

    it('deletes exactly the verified runs outside every rule, by an independent count', () => {
      fc.assert(fc.property(histories, rules, (runs, r) => {
        const sorted = [...runs].sort((a, b) => b.at - a.at);
        if (!sorted[0] || !(sorted[0].complete && sorted[0].verified)) return;
        const good = sorted.filter((x) => x.complete && x.verified);
        const keepers = new Set(good.slice(0, r.keepLast).map((x) => x.prefix));
        const bucket = (label: string, count: number, f: (t: number) => string) => {
          const firstOfBucket = new Map<string, string>();
          for (const g of good) if (!firstOfBucket.has(f(g.at))) firstOfBucket.set(f(g.at), g.prefix);
          [...firstOfBucket.values()].slice(0, count).forEach((p) => keepers.add(p));
          return label;
        };
        bucket('daily', r.daily, (t) => new Date(t).toISOString().slice(0, 10));
        bucket('monthly', r.monthly, (t) => new Date(t).toISOString().slice(0, 7));
        const weekly = planRetention(good, { ...r, keepLast: 1, daily: 0, monthly: 0 }, now).filter((d) => d.reasons.some((x) => x.startsWith('weekly'))).map((d) => d.prefix);
        weekly.forEach((p) => keepers.add(p));
        const expected = good.filter((g) => !keepers.has(g.prefix)).map((g) => g.prefix).sort();
        const actual = planRetention(runs, r, now).filter((d) => d.action === 'delete' && runs.find((x) => x.prefix === d.prefix)!.verified).map((d) => d.prefix).sort();
        expect(actual).toEqual(expected);
      }), { numRuns: 300 });
    });
  });
});
