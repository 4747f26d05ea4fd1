import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nextFire, repeatedAt } from '../../../lib/config/cadence.js';
import type { FleetConfigInput } from '../../../lib/config/schema.js';
import { VERIFIED_BACKUP, type DispatchRecord, type SeenRecord } from '../../../lambdas/result/state-store.js';
import { expectedRuns, markKey, STACK_HOST, watch, WATCHDOG_PERIOD_MS, watchKey, type Observations, type WatchFinding } from '../../../lambdas/watchdog/watch.js';
import { demoFleet } from '../../support/fleets.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

type ScheduleInput = { cron?: string; rate?: string; timezone?: string; enabled?: boolean };
interface StackShape {
  health?: ScheduleInput;
  backup?: { schedule?: ScheduleInput; maxAgeHours?: number; timeoutMinutes?: number };
  dispatch?: { timeoutSeconds: number; executionTimeoutSeconds: number };
  secrets?: { name: string; rotationDays: number }[];
}

function fleetOf(shape: StackShape) {
  return demoFleet((f: FleetConfigInput) => {
    f.stacks = [{
      name: 'web', hosts: { tag: { key: 'Role', value: 'web' } }, services: [{ name: 'api', container: 'web-api-1' }],
      ...(shape.health ? { schedules: { healthCheck: shape.health } } : {}),
      ...(shape.dispatch ? { dispatch: shape.dispatch } : {}),
      ...(shape.backup ? { backup: { volumes: [{ name: 'data' }], ...shape.backup } } : {}),
      secrets: (shape.secrets ?? []).map((s) => ({ ...s, file: `/opt/web/${s.name}.key` })),
    }];
  });
}

const seen = (runbook: string, host: string, at: number): SeenRecord => ({ runbook, host, at, runId: `r-${at}`, commandId: `c-${at}`, status: 'Success' });
const failingOf = (fs: WatchFinding[], check: string, host = STACK_HOST) => fs.find((f) => f.check === check && f.host === host && f.severity !== 'ok');

const ZONES = ['UTC', 'Europe/Berlin', 'America/New_York', 'Australia/Sydney', 'Asia/Kolkata'];
const scheduleArb: fc.Arbitrary<ScheduleInput> = fc.oneof(
  fc.record({
    cron: fc.constantFrom('*/15 * * * ? *', '30 2 * * ? *', '0 3 ? * SUN *', '0 9 1 * ? *', '45 1 ? * MON-FRI *', '0 0/6 * * ? *', '15 2 L * ? *'),
    timezone: fc.constantFrom(...ZONES),
  }),
  fc.record({ rate: fc.constantFrom('20 minutes', '6 hours', '1 day', '7 days') }),
);
/** Deploy times around the 2026 DST changes and anywhere else. */
const deployArb = fc.oneof(
  fc.tuple(fc.constantFrom('2026-03-08T06:00Z', '2026-03-29T00:30Z', '2026-04-04T15:00Z', '2026-10-03T15:30Z', '2026-10-25T00:30Z', '2026-11-01T05:30Z'), fc.integer({ min: -3 * DAY, max: 2 * DAY }))
    .map(([e, d]) => Date.parse(e) + d),
  fc.integer({ min: Date.parse('2026-01-01T00:00Z'), max: Date.parse('2027-12-31T00:00Z') }),
);
const dispatchArb = fc.record({ timeoutSeconds: fc.integer({ min: 30, max: 3600 }), executionTimeoutSeconds: fc.integer({ min: 30, max: 3600 }) });

/** The first `n` fires at or after `from` (rates from `from`, as the watchdog's anchor). */
function firesFrom(s: ScheduleInput, from: number, n: number): number[] {
  const out: number[] = [];
  let t = new Date(from - 1);
  for (let i = 0; i < n; i++) {
    t = nextFire({ ...s, timezone: s.timezone ?? 'UTC' }, t, new Date(from))!;
    out.push(t.getTime());
  }
  return out;
}

/** The later instant of a fire whose wall-clock time a fall-back change repeats, else the fire itself. */
const lateInstant = (s: ScheduleInput, fire: number) => repeatedAt({ ...s, timezone: s.timezone ?? 'UTC' }, new Date(fire))?.getTime() ?? fire;

describe('watchdog: missed runs', () => {
  it('missed fires within one watchdog period after the configured window, and never before (cron and rate, five zones, DST)', () => {
    fc.assert(
      fc.property(
        scheduleArb, deployArb, dispatchArb, fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: WATCHDOG_PERIOD_MS - 1 }), fc.integer({ min: 1, max: 3 }), fc.boolean(),
        (schedule, deploy, dispatch, k, phase, hosts, dispatched) => {
          // Prepare: hosts answer the first k runs after deploy (within the window) and then stop
          const fleet = fleetOf({ health: schedule, dispatch });
          const window = expectedRuns(fleet, fleet.stacks[0]!).find((e) => e.runbook === 'health-check')!.windowMs;
          const fires = firesFrom(schedule, deploy, k + 1);
          const missedAt = fires[k]!;
          const due = lateInstant(schedule, missedAt) + window;
          const observe = (t: number): Observations => ({
            marks: { [markKey('web', 'health-check')]: deploy },
            stacks: {
              web: {
                seen: fires.slice(0, k).flatMap((f) => Array.from({ length: hosts }, (_, h) => seen('health-check', `i-${h}`, f + MIN))).filter((s) => s.at <= t),
                dispatches: dispatched ? Object.fromEntries(fires.filter((f) => f <= t).slice(-1).map((f) => ['health-check', { at: f, runId: 'r', commandIds: ['c'], targets: 'tag Role=web' }])) : {},
              },
            },
          });
          // Act: the watchdog runs every 5 minutes from shortly after deploy
          let first: number | undefined;
          for (let t = deploy + phase; t < due + 2 * WATCHDOG_PERIOD_MS; t += WATCHDOG_PERIOD_MS) {
            if (t < missedAt - 2 * DAY) t += Math.floor((missedAt - 2 * DAY - t) / WATCHDOG_PERIOD_MS) * WATCHDOG_PERIOD_MS;
            if (failingOf(watch(fleet, observe(t), t).filter((f) => f.runbook === 'health-check'), 'missed')) {
              first = t;
              break;
            }
          }
          // Assess
          expect(first).toBeDefined();
          expect(first!).toBeGreaterThanOrEqual(due);
          expect(first! - due).toBeLessThan(WATCHDOG_PERIOD_MS);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('waits for the second instant of a repeated fall-back time before calling a run missed', () => {
    // Prepare: 02:30 Berlin on 2026-10-25 is 00:30Z and again 01:30Z
    const fleet = fleetOf({ health: { cron: '30 2 * * ? *', timezone: 'Europe/Berlin' }, dispatch: { timeoutSeconds: 600, executionTimeoutSeconds: 300 } });
    const obs = (s: SeenRecord[]): Observations => ({ marks: { 'web#health-check': Date.parse('2026-10-20T00:00Z') }, stacks: { web: { seen: s, dispatches: {} } } });
    const yesterday = seen('health-check', 'i-1', Date.parse('2026-10-24T00:31Z'));
    // Act
    const afterFirst = watch(fleet, obs([yesterday]), Date.parse('2026-10-25T00:45Z'));
    const afterSecond = watch(fleet, obs([yesterday]), Date.parse('2026-10-25T01:45Z'));
    const ranAtFirst = watch(fleet, obs([seen('health-check', 'i-1', Date.parse('2026-10-25T00:31Z'))]), Date.parse('2026-10-25T01:45Z'));
    // Assess
    expect(failingOf(afterFirst, 'missed')).toBeUndefined();
    expect(failingOf(afterSecond, 'missed')).toBeDefined();
    expect(failingOf(ranAtFirst, 'missed')).toBeUndefined();
  });

  it('a missed run is resolved by the next result', () => {
    // Prepare
    const fleet = fleetOf({ health: { cron: '30 2 * * ? *', timezone: 'Europe/Berlin' } });
    const deploy = Date.parse('2026-11-20T12:00Z');
    const now = Date.parse('2026-11-21T02:00Z'); // 03:00 Berlin, the 02:30 run plus 15 min has passed
    const obs = (s: SeenRecord[]): Observations => ({ marks: { 'web#health-check': deploy }, stacks: { web: { seen: s, dispatches: {} } } });
    // Act
    const before = watch(fleet, obs([]), now);
    const after = watch(fleet, obs([seen('health-check', 'i-1', now - MIN)]), now);
    // Assess
    expect(failingOf(before, 'missed')).toMatchObject({ severity: 'critical', target: 'health-check' });
    expect(after.find((f) => f.check === 'missed' && f.runbook === 'health-check')!.severity).toBe('ok');
  });

  it('disabled schedules produce nothing, and their open alerts resolve as no longer watched', () => {
    // Prepare
    const fleet = fleetOf({ health: { cron: '*/15 * * * ? *', enabled: false } });
    const key = watchKey({ check: 'missed', target: 'health-check', host: STACK_HOST });
    // Act
    const findings = watch(fleet, { marks: {}, stacks: { web: { seen: [], dispatches: {}, open: [key] } } }, Date.parse('2026-11-21T12:00Z'));
    // Assess
    expect(findings).toEqual([expect.objectContaining({ check: 'missed', target: 'health-check', host: STACK_HOST, severity: 'ok', observed: 'no longer watched' })]);
  });

  it('runs due before the watchdog began expecting them are never missed', () => {
    // Prepare
    const fleet = fleetOf({ health: { cron: '0 3 * * ? *' } });
    const now = Date.parse('2026-11-21T12:00Z');
    // Act
    const findings = watch(fleet, { marks: { 'web#health-check': now - HOUR }, stacks: {} }, now);
    // Assess
    expect(failingOf(findings, 'missed')).toBeUndefined();
  });
});

describe('watchdog: silent hosts', () => {
  it('a single silent host among responding mates is reported, by name, and only it', () => {
    fc.assert(
      fc.property(scheduleArb, deployArb, dispatchArb, fc.integer({ min: 2, max: 8 }), fc.nat(), fc.integer({ min: 0, max: 30 * MIN }),
        (schedule, deploy, dispatch, hosts, pick, late) => {
          // Prepare: every host answered run 1; all but one answer run 2
          const fleet = fleetOf({ health: schedule, dispatch });
          const window = expectedRuns(fleet, fleet.stacks[0]!)[0]!.windowMs;
          const [f1, f2, f3] = firesFrom(schedule, deploy, 3) as [number, number, number];
          const silent = `i-${pick % hosts}`;
          const names = Array.from({ length: hosts }, (_, h) => `i-${h}`);
          const records = names.map((h) => seen('health-check', h, h === silent ? f1 + MIN : f2 + MIN));
          const [d2, d3] = [lateInstant(schedule, f2) + window, lateInstant(schedule, f3) + window];
          const now = d2 + (late % (d3 - d2)); // after run 2's window, before run 3's
          // Act
          const findings = watch(fleet, { marks: { 'web#health-check': deploy }, stacks: { web: { seen: records, dispatches: {} } } }, now);
          // Assess
          const reported = findings.filter((f) => f.check === 'host.silent' && f.severity !== 'ok').map((f) => f.host);
          expect(reported).toEqual([silent]);
          expect(findings.find((f) => f.host === silent)!.message).toContain(silent);
          expect(failingOf(findings, 'missed')).toBeUndefined();
        }),
      { numRuns: 150 },
    );
  });

  it('is not reported before the window of the run it missed has passed', () => {
    // Prepare
    const fleet = fleetOf({ health: { cron: '0 * * * ? *' }, dispatch: { timeoutSeconds: 600, executionTimeoutSeconds: 300 } });
    const run = Date.parse('2026-11-21T10:00Z');
    const records = [seen('health-check', 'i-1', run + MIN), seen('health-check', 'i-2', run - HOUR + MIN)];
    const obs: Observations = { marks: { 'web#health-check': run - DAY }, stacks: { web: { seen: records, dispatches: {} } } };
    // Act
    const early = watch(fleet, obs, run + 15 * MIN - 1);
    const due = watch(fleet, obs, run + 15 * MIN);
    // Assess
    expect(failingOf(early, 'host.silent', 'i-2')).toBeUndefined();
    expect(failingOf(due, 'host.silent', 'i-2')).toMatchObject({ severity: 'critical', target: 'health-check' });
  });

  it('a host that stays silent stays reported until it has not been seen for the member horizon', () => {
    // Prepare
    const fleet = fleetOf({ health: { cron: '*/15 * * * ? *' } });
    const now = Date.parse('2026-11-21T10:20Z');
    const obs = (silentAt: number): Observations => ({
      marks: { 'web#health-check': now - 30 * DAY },
      stacks: { web: { seen: [seen('health-check', 'i-1', now - 4 * MIN), seen('health-check', 'i-2', silentAt)], dispatches: {}, open: [watchKey({ check: 'host.silent', target: 'health-check', host: 'i-2' })] } },
    });
    // Act
    const threeDays = watch(fleet, obs(now - 3 * DAY), now);
    const eightDays = watch(fleet, obs(now - 8 * DAY), now);
    // Assess
    expect(failingOf(threeDays, 'host.silent', 'i-2')).toBeDefined();
    expect(eightDays.find((f) => f.host === 'i-2')).toMatchObject({ severity: 'ok', observed: 'no longer watched' });
  });
});

describe('watchdog: runs that matched no host', () => {
  it('a 0-host run is reported at its first run, naming the tag, and resolves once hosts answer', () => {
    fc.assert(
      fc.property(scheduleArb, deployArb, dispatchArb, fc.integer({ min: 0, max: 4 * WATCHDOG_PERIOD_MS }), (schedule, deploy, dispatch, late) => {
        // Prepare: the first scheduled run after deploy went out and SSM says it targeted 0 instances
        const fleet = fleetOf({ health: schedule, dispatch });
        const window = expectedRuns(fleet, fleet.stacks[0]!)[0]!.windowMs;
        const [first] = firesFrom(schedule, deploy, 1) as [number];
        const d: DispatchRecord = { at: first + 5_000, runId: 'health-check-web-1', commandIds: ['c-1'], targets: 'tag Role=web' };
        const obs = (s: SeenRecord[]): Observations => ({ marks: { 'web#health-check': deploy }, stacks: { web: { seen: s, dispatches: { 'health-check': d }, targetCounts: { 'c-1': 0 } } } });
        // Act
        const during = watch(fleet, obs([]), d.at + window - 1);
        const after = watch(fleet, obs([]), d.at + window + late);
        const answered = watch(fleet, obs([seen('health-check', 'i-1', d.at + window + late)]), d.at + window + late + 1);
        // Assess
        expect(failingOf(during, 'run.no-targets')).toBeUndefined();
        const f = failingOf(after, 'run.no-targets')!;
        expect(f).toMatchObject({ severity: 'critical', target: 'health-check', observed: '0 hosts targeted' });
        expect(f.message).toContain('Role=web');
        expect(f.message).toContain('shipshape:fleet=demo');
        expect(answered.find((x) => x.check === 'run.no-targets')!.severity).toBe('ok');
      }),
      { numRuns: 100 },
    );
  });

  it('says nothing while SSM has not told how many hosts a command targeted', () => {
    // Prepare
    const fleet = fleetOf({ health: { cron: '0 * * * ? *' } });
    const at = Date.parse('2026-11-21T10:00Z');
    const obs: Observations = { marks: { 'web#health-check': at - DAY }, stacks: { web: { seen: [], dispatches: { 'health-check': { at, runId: 'r', commandIds: ['c-1'], targets: '' } } } } };
    // Act
    const findings = watch(fleet, obs, at + DAY / 2);
    // Assess
    expect(findings.find((f) => f.check === 'run.no-targets')).toBeUndefined();
    expect(failingOf(findings, 'missed')).toBeDefined();
  });
});

describe('watchdog: backup age', () => {
  const verifiedRun = (host: string, at: number) => [seen('backup', host, at), seen(VERIFIED_BACKUP, host, at)];

  it.each([36, 192, 2160])('maxAgeHours %i alerts exactly at that age (no 7-day cap), within one watchdog period', (maxAgeHours) => {
    fc.assert(
      fc.property(fc.integer({ min: Date.parse('2026-01-01T00:00Z'), max: Date.parse('2027-01-01T00:00Z') }), fc.integer({ min: 0, max: WATCHDOG_PERIOD_MS - 1 }), (verifiedAt, phase) => {
        // Prepare: the host keeps backing up, but nothing verifies after verifiedAt
        const fleet = fleetOf({ backup: { maxAgeHours, schedule: { cron: '0 2 * * ? *' } } });
        const limit = verifiedAt + maxAgeHours * HOUR;
        const obs = (t: number): Observations => ({
          marks: { 'web#backup': verifiedAt - DAY },
          stacks: { web: { seen: [seen('health-check', 'i-1', t - MIN), seen('backup', 'i-1', t - HOUR), seen(VERIFIED_BACKUP, 'i-1', verifiedAt)], dispatches: {} } },
        });
        // Act: watchdog runs on a 5-minute grid around the limit
        const start = limit - 3 * WATCHDOG_PERIOD_MS + phase;
        const firing = [0, 1, 2, 3, 4, 5].map((i) => start + i * WATCHDOG_PERIOD_MS).find((t) => failingOf(watch(fleet, obs(t), t), 'backup.age', 'i-1'));
        // Assess
        expect(firing).toBeDefined();
        expect(firing!).toBeGreaterThanOrEqual(limit);
        expect(firing! - limit).toBeLessThan(WATCHDOG_PERIOD_MS);
      }),
      { numRuns: 40 },
    );
  });

  it('the stack is reported when no host ever verified a backup, maxAgeHours after backups became due', () => {
    // Prepare
    const fleet = fleetOf({ backup: { maxAgeHours: 36 } });
    const since = Date.parse('2026-11-20T00:00Z');
    const obs: Observations = { marks: { 'web#backup': since }, stacks: { web: { seen: [seen('backup', 'i-1', since + HOUR)], dispatches: {} } } };
    // Act
    const before = watch(fleet, obs, since + 36 * HOUR - 1);
    const at = watch(fleet, obs, since + 36 * HOUR);
    // Assess
    expect(failingOf(before, 'backup.age')).toBeUndefined();
    expect(failingOf(at, 'backup.age')).toMatchObject({ severity: 'critical', observed: 'no verified backup yet', threshold: '36 h' });
    expect(failingOf(at, 'backup.age', 'i-1')).toMatchObject({ severity: 'critical' });
  });

  it('resolves when a newer verified backup arrives', () => {
    // Prepare
    const fleet = fleetOf({ backup: { maxAgeHours: 36 } });
    const now = Date.parse('2026-11-22T12:00Z');
    const obs = (at: number): Observations => ({ marks: { 'web#backup': now - 10 * DAY }, stacks: { web: { seen: verifiedRun('i-1', at), dispatches: {} } } });
    // Act
    const old = watch(fleet, obs(now - 40 * HOUR), now);
    const fresh = watch(fleet, obs(now - HOUR), now);
    // Assess
    expect(failingOf(old, 'backup.age', 'i-1')).toBeDefined();
    expect(fresh.filter((f) => f.check === 'backup.age').map((f) => f.severity)).toEqual(['ok', 'ok']);
  });
});

describe('watchdog: secret age', () => {
  it('reports a secret older than rotationDays + 2 days, and leaves secrets alone in runs that did not read them', () => {
    // Prepare
    const fleet = fleetOf({ secrets: [{ name: 'jwt', rotationDays: 30 }, { name: 'api-key', rotationDays: 90 }] });
    const now = Date.parse('2026-11-22T12:00Z');
    const open = [watchKey({ check: 'secret.age', target: 'jwt', host: STACK_HOST })];
    // Act
    const read = watch(fleet, { marks: {}, stacks: { web: { seen: [], dispatches: {}, open } }, secrets: [{ stack: 'web', name: 'jwt', changedAt: now - 33 * DAY }, { stack: 'web', name: 'api-key', changedAt: now - 10 * DAY }] }, now);
    const notRead = watch(fleet, { marks: {}, stacks: { web: { seen: [], dispatches: {}, open } } }, now);
    // Assess
    expect(read.filter((f) => f.check === 'secret.age').map((f) => [f.target, f.severity, f.observed, f.threshold])).toEqual([['jwt', 'critical', '33 days', '32 days'], ['api-key', 'ok', '10 days', '92 days']]);
    expect(notRead.filter((f) => f.check === 'secret.age')).toEqual([]);
  });
});
