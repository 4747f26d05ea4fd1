/**
 * The watchdog's judgement, pure: from the config (every stack's expected cadence) and what
 * the store last saw, the findings that something did not happen. Each finding then goes
 * through the same alert state machine as host findings, so it fires, repeats, resolves and
 * is silenced the same way.
 *
 * Rules, all from the config's schedules (disabled schedules are not watched):
 * - missed (stack): a run was due at F, F + its window (the dispatch's wait-to-start plus
 *   the script's execution timeout) has passed, and no host of the stack has reported that
 *   runbook since F. Fires from the first watchdog run at or after F + window.
 * - host.silent (per host): the latest due run got results from some hosts of the stack but
 *   not from this one, which reported the runbook for the previous run (or within the member
 *   horizon, 7 days by default, so that a host that stays silent stays reported).
 * - run.no-targets (stack): the last dispatch's window passed, no host reported since, and SSM
 *   says its commands targeted 0 instances: a tag typo or unmanaged instances, at the first run.
 * - backup.age (per host, and stack): no verified backup newer than maxAgeHours, exactly: 36
 *   means 36 hours. A host that backed up but never verified counts from when the watchdog
 *   began expecting backups; so does the stack when no host ever verified one.
 * - secret.age (stack): a configured secret older than rotationDays + 2 days (only when the
 *   caller looked the ages up this run).
 *
 * "Since when expected" comes from watch marks: the first watchdog run that saw a runbook's
 * schedule enabled. Runs due before that never count as missed (no alarm right after deploy).
 * Rate schedules fire every period from their last dispatch (or from the mark).
 *
 * A cron time that a fall-back change repeats runs once (lib/config/cadence.ts); which of the
 * two instants is not documented, so results count from the first and a run is late only
 * after the second plus its window.
 */
import { previousFire, repeatedAt } from '../../lib/config/cadence.js';
import { healthSchedule, stackDispatch } from '../../lib/config/resolve.js';
import { FLEET_TAG_KEY, type Fleet, type Schedule, type Stack } from '../../lib/config/schema.js';
import type { Finding } from '../../lib/results/findings.js';
import { BACKUP, DRILL, HEALTH_CHECK, INTEGRITY, MAINTENANCE } from '../../lib/runbooks/names.js';
import { alertKey, type AlertSeverity } from '../result/alert-state.js';
import { VERIFIED_BACKUP, type DispatchRecord, type SeenRecord } from '../result/state-store.js';

/** The runbook name watchdog alerts are keyed and sent under. */
export const WATCHDOG = 'watchdog';
/** The pseudo host of stack-level findings; all watchdog alert state of a stack lives under it. */
export const STACK_HOST = '*';

export const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** How often the watchdog runs (the lead's schedule); findings come at most this late. */
export const WATCHDOG_PERIOD_MS = 5 * MINUTE;

export interface WatchFinding extends Finding {
  readonly stack: string;
  /** Instance ID, or STACK_HOST for the whole stack. */
  readonly host: string;
  /** The watched runbook (or "secret"). */
  readonly runbook: string;
}

/** A scheduled runbook of a stack and how long one run may take to produce a first result. */
export interface ExpectedRun {
  readonly runbook: string;
  readonly schedule: Schedule;
  readonly windowMs: number;
  readonly severity: AlertSeverity;
}

/** Every enabled scheduled runbook of a stack, with the window the dispatcher gives its commands. */
export function expectedRuns(fleet: Fleet, stack: Stack): ExpectedRun[] {
  const d = stackDispatch(fleet, stack);
  const plain = (d.timeoutSeconds + d.executionTimeoutSeconds) * 1000;
  const backupWindow = stack.backup ? (d.timeoutSeconds + stack.backup.timeoutMinutes * 60) * 1000 : plain;
  const all: (ExpectedRun | undefined)[] = [
    { runbook: HEALTH_CHECK, schedule: healthSchedule(fleet, stack), windowMs: plain, severity: 'critical' },
    stack.backup && { runbook: BACKUP, schedule: stack.backup.schedule, windowMs: backupWindow, severity: 'critical' },
    stack.backup && { runbook: DRILL, schedule: stack.backup.drill, windowMs: backupWindow, severity: 'warning' },
    stack.integrity && { runbook: INTEGRITY, schedule: stack.integrity.schedule, windowMs: plain, severity: 'warning' },
    stack.maintenance && { runbook: MAINTENANCE, schedule: stack.maintenance.schedule, windowMs: backupWindow, severity: 'warning' },
  ];
  return all.filter((e): e is ExpectedRun => e !== undefined && e.schedule.enabled);
}

export const markKey = (stack: string, runbook: string) => `${stack}#${runbook}`;

/** Alert key of a watchdog finding within its stack's STACK_HOST state. */
export function watchKey(f: Pick<WatchFinding, 'check' | 'target' | 'host'>): string {
  return `${alertKey(WATCHDOG, f)}#${f.host}`;
}

export interface StackObservations {
  readonly seen: readonly SeenRecord[];
  readonly dispatches: Readonly<Record<string, DispatchRecord>>;
  /** TargetCount per command ID from SSM ListCommands; absent when not asked or unknown. */
  readonly targetCounts?: Readonly<Record<string, number>>;
  /** Keys (watchKey) of the stack's open watchdog alerts. */
  readonly open?: readonly string[];
}

export interface SecretObservation {
  readonly stack: string;
  readonly name: string;
  /** LastRotatedDate, else CreatedDate (ms); undefined when it could not be read. */
  readonly changedAt: number | undefined;
}

export interface Observations {
  readonly stacks: Readonly<Record<string, StackObservations>>;
  /** markKey -> since when the watchdog expects that runbook (ms). */
  readonly marks: Readonly<Record<string, number>>;
  /** Secret ages read this run; undefined when not read this run (their alerts stay as they are). */
  readonly secrets?: readonly SecretObservation[];
}

export interface WatchOptions {
  /** A host stays a member of its stack this long after its last result. @default 7 days */
  readonly memberHorizonMs?: number;
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/:\d\d\.\d+Z$/, 'Z');
const hours = (ms: number) => Math.floor(ms / HOUR * 10) / 10;
function duration(ms: number): string {
  if (ms % DAY === 0) return `${ms / DAY} d`;
  if (ms % HOUR === 0) return `${ms / HOUR} h`;
  return `${Math.round(ms / MINUTE)} min`;
}
const describeSchedule = (s: Schedule) => (s.cron ? `cron "${s.cron}" ${s.timezone}` : `rate "${s.rate}"`);

/**
 * The watchdog's findings at `now`: a failing or ok finding for everything it could judge, an
 * ok finding for open alerts it no longer watches, and nothing for what it cannot judge yet.
 */
export function watch(fleet: Fleet, obs: Observations, now: number, options: WatchOptions = {}): WatchFinding[] {
  const horizon = options.memberHorizonMs ?? 7 * DAY;
  const out: WatchFinding[] = [];
  for (const stack of fleet.stacks) {
    const o = obs.stacks[stack.name] ?? { seen: [], dispatches: {} };
    const judged = new Set<string>();
    const undetermined = new Set<string>();
    const emit = (f: Omit<WatchFinding, 'stack'>) => {
      const finding = { ...f, stack: stack.name };
      judged.add(watchKey(finding));
      out.push(finding);
    };
    const byRunbook = new Map<string, SeenRecord[]>();
    for (const s of o.seen) byRunbook.set(s.runbook, [...(byRunbook.get(s.runbook) ?? []), s]);

    for (const e of expectedRuns(fleet, stack)) {
      const since = obs.marks[markKey(stack.name, e.runbook)] ?? now;
      const dispatch = o.dispatches[e.runbook];
      const anchor = new Date(e.schedule.rate !== undefined && dispatch ? dispatch.at : since);
      // The latest run whose window has passed. A wall-clock time repeated by a fall-back change
      // runs once, at one of its two instants: results count from the first, lateness from the second.
      let due = previousFire(e.schedule, new Date(now - e.windowMs), anchor)?.getTime();
      for (let i = 0; i < 20 && due !== undefined && (repeatedAt(e.schedule, new Date(due))?.getTime() ?? due) + e.windowMs > now; i++) {
        due = previousFire(e.schedule, new Date(due - 1), anchor)?.getTime();
      }
      const runs = byRunbook.get(e.runbook) ?? [];
      const latest = runs.reduce((m, r) => Math.max(m, r.at), -Infinity);
      const base = { target: e.runbook, runbook: e.runbook, host: STACK_HOST };

      // missed
      // A number from here on: `counted` says whether there was a due run at all.
      const dueAt = due ?? -Infinity;
      const counted = due !== undefined && dueAt >= since;
      const missed = counted && latest < dueAt;
      emit({
        ...base, check: 'missed', severity: missed ? e.severity : 'ok',
        observed: latest === -Infinity ? 'no result yet' : `last result ${iso(latest)}`,
        threshold: `a result within ${duration(e.windowMs)} of each run`,
        message: missed
          ? `${e.runbook} of stack ${stack.name} was due at ${iso(dueAt)} (${describeSchedule(e.schedule)}) and no host reported it within ${duration(e.windowMs)}: the schedule, the dispatcher, SSM or every host of the stack is failing`
          : `${e.runbook} of stack ${stack.name} reports on schedule`,
      });

      // host.silent
      if (counted) {
        const responders = runs.filter((r) => r.at >= dueAt);
        const previous = previousFire(e.schedule, new Date(dueAt - 1), anchor)?.getTime();
        const memberFloor = Math.min(previous ?? Infinity, now - horizon);
        for (const r of runs) {
          const key = { ...base, check: 'host.silent', host: r.host };
          if (r.at >= dueAt) {
            emit({ ...key, severity: 'ok', observed: `last result ${iso(r.at)}`, threshold: `a result for the run due ${iso(dueAt)}`, message: `${r.host} reports ${e.runbook}` });
          } else if (responders.length === 0) {
            undetermined.add(watchKey(key)); // the whole stack is silent: "missed" says so
          } else if (r.at >= memberFloor) {
            emit({
              ...key, severity: e.severity, observed: `last result ${iso(r.at)}`, threshold: `a result for the run due ${iso(dueAt)}`,
              message: `${r.host} did not report ${e.runbook} for the run due ${iso(dueAt)} while ${responders.length} other host(s) of stack ${stack.name} did; its last result was at ${iso(r.at)}. Check that the instance runs and its SSM agent is online`,
            });
          }
        }
      } else {
        for (const r of runs) undetermined.add(watchKey({ check: 'host.silent', target: e.runbook, host: r.host }));
      }

      // run.no-targets
      const noTargetsKey = watchKey({ check: 'run.no-targets', target: e.runbook, host: STACK_HOST });
      if (dispatch && dispatch.at + e.windowMs <= now) {
        const counts = dispatch.commandIds.map((id) => o.targetCounts?.[id]);
        const reported = latest >= dispatch.at;
        const known = dispatch.commandIds.length > 0 && counts.every((c) => c !== undefined);
        if (reported || known) {
          const zero = !reported && counts.reduce<number>((a, c) => a + c!, 0) === 0;
          emit({
            ...base, check: 'run.no-targets', severity: zero ? 'critical' : 'ok',
            observed: reported ? 'hosts reported' : `${counts.reduce<number>((a, c) => a + c!, 0)} hosts targeted`,
            threshold: 'at least 1 host',
            message: zero
              ? `the ${e.runbook} run ${dispatch.runId} of stack ${stack.name} (dispatched ${iso(dispatch.at)}) matched 0 hosts: ${targetsProblem(fleet, stack)}`
              : `${e.runbook} of stack ${stack.name} reaches its hosts`,
          });
        } else {
          undetermined.add(noTargetsKey);
        }
      } else {
        undetermined.add(noTargetsKey);
      }
    }

    // backup.age
    const backupRun = expectedRuns(fleet, stack).find((e) => e.runbook === BACKUP);
    if (stack.backup && backupRun) {
      const maxAge = stack.backup.maxAgeHours * HOUR;
      const since = obs.marks[markKey(stack.name, BACKUP)] ?? now;
      const verified = new Map((byRunbook.get(VERIFIED_BACKUP) ?? []).map((s) => [s.host, s.at]));
      const lastAny = new Map<string, number>();
      for (const s of o.seen) lastAny.set(s.host, Math.max(lastAny.get(s.host) ?? -Infinity, s.at));
      const backupHosts = new Set([...(byRunbook.get(BACKUP) ?? []).map((s) => s.host), ...verified.keys()]);
      const threshold = `${stack.backup.maxAgeHours} h`;
      for (const host of backupHosts) {
        if ((lastAny.get(host) ?? -Infinity) < now - Math.max(horizon, maxAge)) continue; // gone: resolved below if open
        const last = verified.get(host);
        const age = now - (last ?? since);
        const old = age >= maxAge;
        emit({
          check: 'backup.age', target: BACKUP, runbook: BACKUP, host, severity: old ? 'critical' : 'ok', observed: `${hours(age)} h`, threshold,
          message: old
            ? last === undefined
              ? `${host} has no verified backup of stack ${stack.name} in ${stack.backup.maxAgeHours} h of backups expected (since ${iso(since)})`
              : `the newest verified backup of stack ${stack.name} on ${host} is from ${iso(last)}, ${hours(age)} h ago; maxAgeHours is ${stack.backup.maxAgeHours}`
            : `${host} has a verified backup of stack ${stack.name} newer than ${stack.backup.maxAgeHours} h`,
        });
      }
      const never = verified.size === 0 && now - since >= maxAge;
      emit({
        check: 'backup.age', target: BACKUP, runbook: BACKUP, host: STACK_HOST, severity: never ? 'critical' : 'ok',
        observed: verified.size === 0 ? 'no verified backup yet' : `${verified.size} host(s) with a verified backup`, threshold,
        message: never
          ? `no host of stack ${stack.name} has a verified backup, ${hours(now - since)} h after backups became due (${iso(since)}); maxAgeHours is ${stack.backup.maxAgeHours}`
          : `stack ${stack.name} has verified backups`,
      });
    }

    // secret.age
    for (const secret of stack.secrets) {
      const key = { check: 'secret.age', target: secret.name, host: STACK_HOST };
      const seen = obs.secrets?.find((s) => s.stack === stack.name && s.name === secret.name);
      if (seen?.changedAt === undefined) {
        undetermined.add(watchKey(key));
        continue;
      }
      const limit = secret.rotationDays + 2;
      const ageDays = Math.floor((now - seen.changedAt) / DAY * 10) / 10;
      const old = ageDays > limit;
      emit({
        ...key, runbook: 'secret', severity: old ? 'critical' : 'ok', observed: `${ageDays} days`, threshold: `${limit} days`,
        message: old
          ? `secret ${secret.name} of stack ${stack.name} was last rotated ${ageDays} days ago; it rotates every ${secret.rotationDays} days (alert past ${limit}): read the rotation function's log and the last rotation alerts`
          : `secret ${secret.name} of stack ${stack.name} rotates on time`,
      });
    }

    // Open alerts nothing above judged: the host, runbook or secret is no longer watched.
    for (const key of o.open ?? []) {
      if (judged.has(key) || undetermined.has(key) || (obs.secrets === undefined && key.startsWith(`${WATCHDOG}#secret.age#`))) continue;
      const [, check = '', target = '', host = STACK_HOST] = key.split('#');
      emit({
        check, target, host, runbook: target, severity: 'ok', observed: 'no longer watched', threshold: null,
        message: `${check} ${target}${host === STACK_HOST ? '' : ` on ${host}`}: no longer watched (schedule disabled or removed, or the host has not reported for ${duration(horizon)})`,
      });
    }
  }
  return out;
}

function targetsProblem(fleet: Fleet, stack: Stack): string {
  if (stack.hosts.tag) {
    return `no managed instance carries both tags ${stack.hosts.tag.key}=${stack.hosts.tag.value} and ${FLEET_TAG_KEY}=${fleet.fleet}. Check the tag spelling on the instances and in the config, and that the instances are online in Fleet Manager`;
  }
  return `none of the ${stack.hosts.instanceIds?.length ?? 0} configured instance IDs could be targeted. Check that they exist, carry ${FLEET_TAG_KEY}=${fleet.fleet} and are online in Fleet Manager`;
}
