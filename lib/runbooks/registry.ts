/**
 * Every runbook, declared once. The stack iterates over this list for documents, schedules,
 * event routing and console entries; adding a runbook is its own files plus one line here.
 * Result schemas and evaluators are the run-time half: lambdas/result/outcome.ts (EVALUATORS).
 */
import type { Fleet, Schedule, Stack } from '../config/schema.js';
import { backupRunbook, drillRunbook, restoreRunbook } from './backup.js';
import type { RunbookDeclaration } from './document.js';
import { healthCheckRunbook } from './health-check.js';
import { integrityRunbook } from './integrity.js';
import { maintenanceRunbook } from './maintenance.js';
import { restartRunbook } from './restart.js';
import { applySecretRunbook } from './secrets.js';
import { secretGraceRunbook } from './secret-grace.js';
import { preflightRunbook } from './preflight.js';

export const RUNBOOKS: readonly RunbookDeclaration[] = [
  healthCheckRunbook,
  backupRunbook,
  restoreRunbook,
  drillRunbook,
  integrityRunbook,
  maintenanceRunbook,
  restartRunbook,
  applySecretRunbook,
  secretGraceRunbook,
  preflightRunbook,
];

/** The runbooks at least one stack of the fleet uses. */
export function fleetRunbooks(fleet: Fleet): RunbookDeclaration[] {
  return RUNBOOKS.filter((rb) => fleet.stacks.some((s) => rb.appliesTo(s)));
}

/** A schedule's identity: expression and time zone. Stacks that share it share one Scheduler schedule. */
export function scheduleKey(s: Schedule): string {
  return s.cron !== undefined ? `cron(${s.cron.trim()})@${s.timezone}` : `rate(${s.rate!.trim()})@${s.timezone}`;
}

export interface ScheduledRun {
  readonly runbook: string;
  readonly stack: string;
  readonly schedule: Schedule;
}

/** Every enabled scheduled (runbook, stack) of the fleet. */
export function scheduledRuns(fleet: Fleet): ScheduledRun[] {
  const out: ScheduledRun[] = [];
  for (const rb of RUNBOOKS) {
    if (!rb.schedules) continue;
    for (const stack of fleet.stacks as Stack[]) {
      if (!rb.appliesTo(stack)) continue;
      for (const schedule of rb.schedules(fleet, stack)) if (schedule.enabled) out.push({ runbook: rb.name, stack: stack.name, schedule });
    }
  }
  return out;
}
