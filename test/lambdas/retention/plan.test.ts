import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deletionWaves, planRetention, runTime, type BackupRun } from '../../../lambdas/retention/plan.js';

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

  describe('differentials: runs that build on an earlier run', () => {
    const on = (r: BackupRun, ...bases: BackupRun[]): BackupRun => ({ ...r, dependsOn: bases.map((b) => b.prefix) });
    const decision = (runs: BackupRun[], prefix: string, rules = { keepLast: 2, daily: 0, weekly: 0, monthly: 0 }) => planRetention(runs, rules, now).find((d) => d.prefix === prefix)!;

    it('keeps the full that kept differentials build on, however old, and deletes an older full with its differentials', () => {
      // Prepare: full A (day 6), differential on A (5), full B (4), differentials on B (3, 2, 1, 0)
      const a = run(6);
      const b = run(4);
      const runs = [a, on(run(5), a), b, ...[3, 2, 1, 0].map((d) => on(run(d), b))];
      // Act
      const gone = deleted(runs, { keepLast: 2, daily: 0, weekly: 0, monthly: 0 });
      // Assess
      expect(gone.sort()).toEqual([runs[0]!.prefix, runs[1]!.prefix, runs[3]!.prefix, runs[4]!.prefix].sort());
      expect(decision(runs, b.prefix).reasons.sort()).toEqual([`base of ${runs[5]!.prefix}`, `base of ${runs[6]!.prefix}`].sort());
    });

    it('deletes nothing when a run the newest run builds on is missing, incomplete or unverified', () => {
      const base = run(3);
      const rest = [run(5), run(6), run(7)];
      expect(deleted([on(run(0), base), ...rest])).toEqual([]);
      expect(decision([on(run(0), base), ...rest], rest[0]!.prefix).reasons.join()).toMatch(/chain is not whole \(.* is missing\)/);
      expect(deleted([on(run(0), run(3, true, false)), run(3, true, false), ...rest])).toEqual([]);
      expect(deleted([on(run(0), run(3, false, false)), run(3, false, false), ...rest])).toEqual([]);
    });

    it('deletes a base only in a wave after every run that builds on it', () => {
      const a = run(9);
      const d1 = on(run(8), a);
      const d2 = on(run(7), a);
      expect(deletionWaves([a, d1, d2], [a.prefix, d1.prefix, d2.prefix]).map((w) => w.sort())).toEqual([[d1.prefix, d2.prefix].sort(), [a.prefix]]);
    });

    // Histories with links from newer runs to older ones (some to runs that are gone).
    const chained = fc.tuple(
      fc.array(fc.record({ daysAgo: fc.float({ min: 0, max: 200, noNaN: true }), complete: fc.boolean(), verified: fc.boolean() }), { minLength: 1, maxLength: 40 }),
      fc.array(fc.tuple(fc.nat(), fc.nat(), fc.boolean()), { maxLength: 60 }),
    ).map(([xs, links]) => {
      const seen = new Set<string>();
      const runs = xs.map((x) => run(x.daysAgo, x.complete, x.complete && x.verified)).filter((r) => !seen.has(r.prefix) && seen.add(r.prefix)).sort((p, q) => q.at - p.at);
      const deps = new Map<string, Set<string>>();
      for (const [i, j, gone] of links) {
        const from = runs[i % runs.length]!;
        const to = runs[j % runs.length]!;
        if (to.at >= from.at) continue;
        const set = deps.get(from.prefix) ?? new Set<string>();
        set.add(gone ? `${to.prefix}-gone` : to.prefix);
        deps.set(from.prefix, set);
      }
      return runs.map((r) => ({ ...r, dependsOn: [...(deps.get(r.prefix) ?? [])] }));
    });
    const rules = fc.record({ keepLast: fc.integer({ min: 1, max: 10 }), daily: fc.integer({ min: 0, max: 14 }), weekly: fc.integer({ min: 0, max: 8 }), monthly: fc.integer({ min: 0, max: 12 }) });

    it('for any runs and rules: every kept run keeps the runs it builds on, and the other guarantees hold', () => {
      fc.assert(fc.property(chained, rules, (runs, r) => {
        // Act
        const plan = planRetention(runs, r, now);
        // Assess
        const byPrefix = new Map(runs.map((x) => [x.prefix, x]));
        const action = new Map(plan.map((d) => [d.prefix, d.action]));
        expect([...action.keys()].sort()).toEqual(runs.map((x) => x.prefix).sort());
        for (const d of plan.filter((x) => x.action === 'keep')) {
          for (const base of byPrefix.get(d.prefix)!.dependsOn ?? []) if (byPrefix.has(base)) expect(action.get(base), `${base}, base of kept ${d.prefix}`).toBe('keep');
        }
        const good = runs.filter((x) => x.complete && x.verified);
        for (const g of good.slice(0, r.keepLast)) expect(action.get(g.prefix)).toBe('keep');
        // Nothing is deleted unless the newest run is verified and everything it builds on is there, complete and verified.
        const newest = runs[0]!;
        const chainWhole = (x: BackupRun, seen = new Set<string>()): boolean => (x.dependsOn ?? []).every((p) => {
          if (seen.has(p)) return true;
          seen.add(p);
          const b = byPrefix.get(p);
          return !!b && b.complete && b.verified && chainWhole(b, seen);
        });
        if (!(newest.complete && newest.verified && chainWhole(newest))) expect(plan.filter((d) => d.action === 'delete')).toEqual([]);
        // Deletion order: a deleted base goes in a later wave than every deleted run built on it.
        const waves = deletionWaves(runs, plan.filter((d) => d.action === 'delete').map((d) => d.prefix));
        const waveOf = new Map(waves.flatMap((w, i) => w.map((p) => [p, i] as const)));
        for (const [p, i] of waveOf) for (const base of byPrefix.get(p)!.dependsOn ?? []) if (waveOf.has(base)) expect(waveOf.get(base)!).toBeGreaterThan(i);
      }), { numRuns: 500 });
    });
  });
});
