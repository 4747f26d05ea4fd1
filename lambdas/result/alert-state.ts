/**
 * The alert state machine, one instance per (host, runbook, check, target). Pure: it gets
 * the previous state, this run's finding, the time and whether a silence applies, and
 * returns the next state and what to send.
 *
 * - OK -> failing alerts after N consecutive failing runs (per severity).
 * - While failing it repeats at the severity's interval, never more often; a rise from
 *   warning to critical alerts at once.
 * - failing -> OK sends one RESOLVED, after M consecutive passing runs, and only for an
 *   alert that was sent.
 * - A critical alert still open after the escalation delay escalates once.
 * - Nothing is sent during a silence. An alert first due during a silence is sent when the
 *   silence ends; a reminder due during it counts as sent, so the end of a window never
 *   re-sends what people already knew.
 */
import type { Finding } from '../../lib/results/findings.js';

export type AlertSeverity = 'warning' | 'critical';

export interface AlertPolicy {
  readonly failuresBeforeAlert: Record<AlertSeverity, number>;
  readonly repeatMs: Record<AlertSeverity, number>;
  readonly okBeforeResolve: number;
  /** Undefined: no escalation. */
  readonly escalateAfterMs?: number;
}

export interface AlertState {
  readonly status: 'ok' | 'failing';
  readonly severity: AlertSeverity | null;
  /** When this failing episode began (ms). */
  readonly since: number | null;
  readonly consecutiveFailures: number;
  readonly consecutiveOk: number;
  /** Failing runs in this episode. */
  readonly runs: number;
  /** Last alert sent, or counted as sent during a silence (ms). */
  readonly notifiedAt: number | null;
  readonly notifiedSeverity: AlertSeverity | null;
  /** True once people were actually told about this episode. */
  readonly announced: boolean;
  readonly escalatedAt: number | null;
  readonly lastObserved: Finding['observed'];
}

export type NoticeKind = 'firing' | 'repeat' | 'resolved' | 'escalation';

export interface Notice {
  readonly kind: NoticeKind;
  readonly severity: AlertSeverity;
  readonly finding: Finding;
  /** State after this run, for "since" and "runs" in the message. */
  readonly state: AlertState;
}

export const OK_STATE: AlertState = {
  status: 'ok', severity: null, since: null, consecutiveFailures: 0, consecutiveOk: 0, runs: 0,
  notifiedAt: null, notifiedSeverity: null, announced: false, escalatedAt: null, lastObserved: null,
};

const isFailing = (f: Finding): f is Finding & { severity: AlertSeverity } => f.severity === 'warning' || f.severity === 'critical';

export function step(prev: AlertState | undefined, finding: Finding, now: number, policy: AlertPolicy, silenced: boolean): { next: AlertState; notices: Notice[] } {
  const before = prev ?? OK_STATE;
  if (!isFailing(finding)) {
    if (before.status === 'ok') return { next: { ...OK_STATE, consecutiveOk: before.consecutiveOk + 1, lastObserved: finding.observed }, notices: [] };
    const consecutiveOk = before.consecutiveOk + 1;
    if (consecutiveOk < policy.okBeforeResolve) return { next: { ...before, consecutiveOk, consecutiveFailures: 0 }, notices: [] };
    const next = { ...OK_STATE, consecutiveOk, lastObserved: finding.observed };
    const tell = before.announced && !silenced;
    return { next, notices: tell ? [{ kind: 'resolved', severity: before.severity ?? 'warning', finding, state: { ...before, consecutiveOk } }] : [] };
  }

  const severity = finding.severity;
  const episode = before.status === 'failing' ? before : { ...OK_STATE, status: 'failing' as const, since: now };
  // The severity of this run is the alert's severity; a drop from critical to warning is not news.
  let next: AlertState = {
    ...episode,
    status: 'failing',
    severity,
    consecutiveFailures: episode.consecutiveFailures + 1,
    consecutiveOk: 0,
    runs: episode.runs + 1,
    lastObserved: finding.observed,
  };
  const notices: Notice[] = [];
  if (next.consecutiveFailures >= policy.failuresBeforeAlert[severity]) {
    const rose = next.notifiedSeverity === 'warning' && severity === 'critical';
    const first = !next.announced;
    const reminderDue = next.notifiedAt !== null && now - next.notifiedAt >= policy.repeatMs[severity];
    if (first || rose || reminderDue) {
      if (!silenced) {
        notices.push({ kind: first || rose ? 'firing' : 'repeat', severity, finding, state: next });
        next = { ...next, notifiedAt: now, notifiedSeverity: severity, announced: true };
      } else if (!first && !rose) {
        next = { ...next, notifiedAt: now };
      }
    }
  }
  if (
    severity === 'critical' && policy.escalateAfterMs !== undefined && next.escalatedAt === null && next.announced &&
    next.since !== null && now - next.since >= policy.escalateAfterMs && !silenced
  ) {
    notices.push({ kind: 'escalation', severity, finding, state: next });
    next = { ...next, escalatedAt: now };
  }
  return { next, notices };
}

/** Stable identity of an alert within a host. */
export function alertKey(runbook: string, finding: Pick<Finding, 'check' | 'target'>): string {
  return `${runbook}#${finding.check}#${finding.target}`;
}
