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
 * - Escalation levels: each level is sent once per episode, when an alert of one of its
 *   severities is still open that long after it began (0: with the first alert).
 * - An acknowledge (from the console) stops reminders and escalation until the alert
 *   resolves or the acknowledge expires; the RESOLVED is still sent.
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
  /** Undefined: no escalation. A single critical level (older configs); `escalation` wins. */
  readonly escalateAfterMs?: number;
  /** Escalation levels, in order; level numbers are 1-based positions in this list. */
  readonly escalation?: readonly EscalationStep[];
}

export interface EscalationStep {
  readonly afterMs: number;
  readonly severities: readonly AlertSeverity[];
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
  /** Escalation levels (1-based) already sent in this episode. */
  readonly escalatedLevels?: readonly number[];
  /** Reminders and escalation stop until then (ms), or until the alert resolves. */
  readonly acknowledgedUntil?: number | null;
  readonly acknowledgedBy?: string | null;
}

export type NoticeKind = 'firing' | 'repeat' | 'resolved' | 'escalation';

export interface Notice {
  readonly kind: NoticeKind;
  readonly severity: AlertSeverity;
  readonly finding: Finding;
  /** State after this run, for "since" and "runs" in the message. */
  readonly state: AlertState;
  /** When this notice was decided (ms): for a RESOLVED, the end of the episode. */
  readonly at?: number;
  /** Escalation level (1-based), for kind "escalation". */
  readonly level?: number;
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
    return { next, notices: tell ? [{ kind: 'resolved', severity: before.severity ?? 'warning', finding, state: { ...before, consecutiveOk }, at: now }] : [] };
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
  const acknowledged = isAcknowledged(next, now);
  if (next.consecutiveFailures >= policy.failuresBeforeAlert[severity]) {
    const rose = next.notifiedSeverity === 'warning' && severity === 'critical';
    const first = !next.announced;
    const reminderDue = next.notifiedAt !== null && now - next.notifiedAt >= policy.repeatMs[severity];
    if (first || rose || (reminderDue && !acknowledged)) {
      if (!silenced) {
        notices.push({ kind: first || rose ? 'firing' : 'repeat', severity, finding, state: next, at: now });
        next = { ...next, notifiedAt: now, notifiedSeverity: severity, announced: true };
      } else if (!first && !rose) {
        next = { ...next, notifiedAt: now };
      }
    }
  }
  if (next.announced && !silenced && !acknowledged && next.since !== null) {
    const sent = new Set(next.escalatedLevels ?? (next.escalatedAt !== null ? [1] : []));
    escalationSteps(policy).forEach((level, i) => {
      const n = i + 1;
      if (sent.has(n) || !level.severities.includes(severity) || now - next.since! < level.afterMs) return;
      notices.push({ kind: 'escalation', severity, finding, state: next, at: now, level: n });
      sent.add(n);
      next = { ...next, escalatedAt: next.escalatedAt ?? now, escalatedLevels: [...sent].sort((a, b) => a - b) };
    });
  }
  return { next, notices };
}

/** The policy's escalation levels, the older single critical level included. */
export function escalationSteps(policy: AlertPolicy): readonly EscalationStep[] {
  if (policy.escalation) return policy.escalation;
  return policy.escalateAfterMs !== undefined ? [{ afterMs: policy.escalateAfterMs, severities: ['critical'] }] : [];
}

export function isAcknowledged(state: AlertState, now: number): boolean {
  return state.status === 'failing' && typeof state.acknowledgedUntil === 'number' && now < state.acknowledgedUntil;
}

/** Acknowledges an open alert: no reminders or escalation until it resolves or `until` passes. */
export function acknowledge(state: AlertState, until: number, by: string): AlertState {
  return { ...state, acknowledgedUntil: until, acknowledgedBy: by };
}

/** Stable identity of an alert within a host. */
export function alertKey(runbook: string, finding: Pick<Finding, 'check' | 'target'>): string {
  return `${runbook}#${finding.check}#${finding.target}`;
}
