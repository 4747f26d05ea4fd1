/**
 * From one finished command invocation to the findings for that host: the shared part
 * of result processing. Runbook-specific evaluation is looked up in EVALUATORS.
 */
import type { z } from 'zod';
import { findStack } from '../../lib/config/resolve.js';
import type { Fleet, Stack } from '../../lib/config/schema.js';
import type { Finding } from '../../lib/results/findings.js';
import { HealthResult } from '../../lib/results/health.js';
import { BackupResult } from '../../lib/results/backup.js';
import { RestoreResult } from '../../lib/results/restore.js';
import { DrillResult } from '../../lib/results/drill.js';
import { BACKUP, DRILL, RESTORE } from '../../lib/runbooks/names.js';
import { evaluateDrill } from './evaluate-drill.js';
import { RestartResult } from '../../lib/results/restart.js';
import { RESTART } from '../../lib/runbooks/names.js';
import { evaluateRestart } from './evaluate-restart.js';
import { IntegrityResult } from '../../lib/results/integrity.js';
import { INTEGRITY } from '../../lib/runbooks/names.js';
import { evaluateIntegrity } from './evaluate-integrity.js';
import { MaintenanceResult } from '../../lib/results/maintenance.js';
import { MAINTENANCE } from '../../lib/runbooks/names.js';
import { evaluateMaintenance } from './evaluate-maintenance.js';
import { APPLY_SECRET } from '../../lib/runbooks/names.js';
import { ApplySecretResult, evaluateApplySecret } from './evaluate-apply-secret.js';
import { evaluateRestore } from './evaluate-restore.js';
import { HEALTH_CHECK } from '../../lib/runbooks/names.js';
import { evaluateBackup } from './evaluate-backup.js';
import { evaluateHealth } from './evaluate-health.js';
import { PreflightResult } from '../../lib/results/preflight.js';
import { PREFLIGHT } from '../../lib/runbooks/names.js';
import { SECRET_GRACE_END, SecretGraceResult } from '../../lib/results/secret-grace.js';
import { evaluateSecretGrace } from './evaluate-secret-grace.js';
import { evaluatePreflight } from './evaluate-preflight.js';
import { statusKey } from '../../lib/results/invocation-status.js';
import { extractJson, type Invocation } from './invocation.js';

interface Evaluator<T> {
  readonly schema: z.ZodType<T>;
  readonly evaluate: (result: T, fleet: Fleet, stack: Stack) => Finding[];
}
function evaluator<T>(e: Evaluator<T>): Evaluator<unknown> {
  return e as Evaluator<unknown>;
}

export const EVALUATORS: Readonly<Record<string, Evaluator<unknown>>> = {
  [HEALTH_CHECK]: evaluator({ schema: HealthResult, evaluate: evaluateHealth }),
  [BACKUP]: evaluator({ schema: BackupResult, evaluate: evaluateBackup }),
  [RESTORE]: evaluator({ schema: RestoreResult, evaluate: evaluateRestore }),
  [DRILL]: evaluator({ schema: DrillResult, evaluate: evaluateDrill }),
  [RESTART]: evaluator({ schema: RestartResult, evaluate: evaluateRestart }),
  [INTEGRITY]: evaluator({ schema: IntegrityResult, evaluate: evaluateIntegrity }),
  [MAINTENANCE]: evaluator({ schema: MaintenanceResult, evaluate: evaluateMaintenance }),
  [APPLY_SECRET]: evaluator({ schema: ApplySecretResult, evaluate: evaluateApplySecret }),
  [PREFLIGHT]: evaluator({ schema: PreflightResult, evaluate: evaluatePreflight }),
  [SECRET_GRACE_END]: evaluator({ schema: SecretGraceResult, evaluate: evaluateSecretGrace }),
};

/** Printable, single-line and short: host text goes into alerts and logs. */
export function sanitize(text: string, max = 300): string {
  const clean = text.replace(/[^\x20-\x7e]+/g, ' ').trim();
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}

export interface HostOutcome {
  readonly runbook: string;
  readonly stack: string;
  readonly runId: string;
  readonly instanceId: string;
  readonly hostname: string | undefined;
  readonly commandId: string;
  readonly status: string;
  readonly findings: Finding[];
}

const UNREACHABLE = new Set(['Undeliverable', 'DeliveryTimedOut', 'Terminated']);
const TIMED_OUT = new Set(['TimedOut', 'ExecutionTimedOut']);

/** Findings for statuses that carry no usable output; StatusDetails is the finer of the two. */
/** The last progress marker a host script wrote on stderr (`shipshape-stage: …`, stage() in common.sh). */
export function lastStage(stderr: string): string | undefined {
  const marks = [...stderr.matchAll(/^shipshape-stage: (.*)$/gm)];
  return marks.length ? marks[marks.length - 1]![1]!.trim() : undefined;
}

function statusFinding(inv: Invocation, runbook: string): Finding | undefined {
  const host = inv.instanceId;
  const key = statusKey(inv.statusDetails || inv.status);
  if (UNREACHABLE.has(key)) {
    return { check: 'host.reachable', target: host, severity: 'critical', observed: inv.statusDetails || inv.status, threshold: 'Success',
      message: `SSM could not run ${runbook} on ${host} (${inv.statusDetails}): the host is offline, its SSM agent is stopped, or it lost its instance role` };
  }
  if (TIMED_OUT.has(key)) {
    const stage = lastStage(inv.stderr);
    return { check: 'run.timeout', target: host, severity: 'critical', observed: inv.statusDetails || inv.status, threshold: 'Success',
      message: `${runbook} did not finish on ${host} in time (${inv.statusDetails}); ${stage ? `the last stage it reported was "${sanitize(stage, 120)}"` : 'it reported no stage, so it hung before it began (a hung docker daemon is the usual cause)'}` };
  }
  if (key === 'Cancelled') {
    return { check: 'run.cancelled', target: host, severity: 'warning', observed: inv.statusDetails || inv.status, threshold: 'Success', message: `${runbook} was cancelled on ${host}` };
  }
  if (key === 'AccessDenied' || key === 'InvalidPlatform') {
    return { check: 'run.rejected', target: host, severity: 'critical', observed: inv.statusDetails || inv.status, threshold: 'Success', message: `SSM refused to run ${runbook} on ${host}: ${inv.statusDetails}` };
  }
  return undefined;
}

export interface ParsedOutput {
  readonly result?: unknown;
  readonly stack?: string;
  readonly hostname?: string;
  readonly problem?: string;
}

export function parseOutput(inv: Invocation, runbook: string): ParsedOutput {
  const ev = EVALUATORS[runbook];
  if (!ev) return { problem: `no evaluator for runbook ${runbook}` };
  let doc: unknown;
  try {
    doc = extractJson(inv.stdout);
  } catch (err) {
    return { problem: (err as Error).message };
  }
  const parsed = ev.schema.safeParse(doc);
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    return { problem: `output does not match the ${runbook} result schema at ${first.path.join('.') || '(top)'}: ${first.message}` };
  }
  const r = parsed.data as { stack?: string; hostname?: string };
  return { result: parsed.data, stack: r.stack, hostname: r.hostname };
}

export interface Evaluation {
  readonly findings: Finding[];
  /** True when the host's result was evaluated, so every check of the runbook was reported. */
  readonly complete: boolean;
}

export function evaluateInvocation(inv: Invocation, runbook: string, fleet: Fleet, stackName: string, parsed: ParsedOutput): Evaluation {
  const status = statusFinding(inv, runbook);
  if (status) return { findings: [status], complete: false };
  const stack = findStack(fleet, stackName);
  if (parsed.problem !== undefined || parsed.result === undefined) {
    const stderr = inv.stderr ? `; stderr: ${sanitize(inv.stderr, 200)}` : '';
    return { complete: false, findings: [{ check: 'run.output', target: inv.instanceId, severity: 'critical', observed: sanitize(parsed.problem ?? 'no result'), threshold: 'one JSON result document',
      message: `${runbook} on ${inv.instanceId} ended ${inv.status} (exit ${inv.responseCode ?? '?'}) without a usable result: ${sanitize(parsed.problem ?? 'no result', 200)}${stderr}` }] };
  }
  if (!stack) {
    return { complete: false, findings: [{ check: 'run.stack', target: stackName, severity: 'warning', observed: stackName, threshold: fleet.stacks.map((s) => s.name).join(','),
      message: `result for unknown stack "${sanitize(stackName, 60)}"; was the config changed without redeploying?` }] };
  }
  const findings = EVALUATORS[runbook]!.evaluate(parsed.result, fleet, stack);
  if (inv.status === 'Failed') {
    findings.push({ check: 'run.exit', target: inv.instanceId, severity: 'warning', observed: inv.responseCode, threshold: 0,
      message: `${runbook} printed a result but exited ${inv.responseCode ?? '?'}${inv.stderr ? `: ${sanitize(inv.stderr, 200)}` : ''}` });
  }
  return { findings, complete: true };
}
