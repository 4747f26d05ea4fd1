import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { acknowledge, escalationSteps, isAcknowledged, step, type AlertPolicy, type AlertState, type Notice } from '../../../lambdas/result/alert-state.js';
import type { Finding } from '../../../lib/results/findings.js';

const MIN = 60_000;
const policy: AlertPolicy = {
  failuresBeforeAlert: { critical: 1, warning: 2 },
  repeatMs: { critical: 240 * MIN, warning: 1440 * MIN },
  okBeforeResolve: 1,
  escalateAfterMs: 30 * MIN,
};
type Sev = Finding['severity'];
const finding = (severity: Sev): Finding => ({ check: 'container.state', target: 'api', severity, observed: severity === 'ok' ? 'running' : 'exited', threshold: 'running', message: 'm' });

interface Run { at: number; severity: Sev; silenced: boolean }
function replay(runs: Run[], p: AlertPolicy = policy): { notices: (Notice & { at: number })[]; states: AlertState[] } {
  let state: AlertState | undefined;
  const notices: (Notice & { at: number })[] = [];
  const states: AlertState[] = [];
  for (const r of runs) {
    const out = step(state, finding(r.severity), r.at, p, r.silenced);
    state = out.next;
    states.push(state);
    notices.push(...out.notices.map((n) => ({ ...n, at: r.at })));
  }
  return { notices, states };
}
const every = (minutes: number, severities: Sev[], silenced: (i: number) => boolean = () => false): Run[] =>
  severities.map((severity, i) => ({ at: i * minutes * MIN, severity, silenced: silenced(i) }));
const kinds = (runs: Run[], p?: AlertPolicy) => replay(runs, p).notices.map((n) => `${n.kind}:${n.severity}@${n.at / MIN}`);

describe('alert state machine', () => {
  it('alerts a critical failure at once, then stays quiet until the repeat interval, then resolves once', () => {
    const runs = every(15, [...Array(20).fill('critical'), 'ok', 'ok']);
    expect(kinds(runs, { ...policy, escalateAfterMs: undefined })).toEqual(['firing:critical@0', 'repeat:critical@240', 'resolved:critical@300']);
  });

  it('waits for two failing runs before a warning, and sends nothing for a single blip', () => {
    expect(kinds(every(15, ['warning', 'ok', 'warning', 'warning', 'ok']))).toEqual(['firing:warning@45', 'resolved:warning@60']);
  });

  it('alerts at once when a warning becomes critical, and not again when it drops back', () => {
    expect(kinds(every(15, ['warning', 'warning', 'critical', 'warning', 'warning']), { ...policy, escalateAfterMs: undefined }))
      .toEqual(['firing:warning@15', 'firing:critical@30']);
  });

  it('damps flapping: with okBeforeResolve 2 a single passing run neither resolves nor re-alerts', () => {
    const p = { ...policy, okBeforeResolve: 2, escalateAfterMs: undefined };
    expect(kinds(every(15, ['critical', 'ok', 'critical', 'ok', 'ok']), p)).toEqual(['firing:critical@0', 'resolved:critical@60']);
  });

  it('escalates an unresolved critical alert once, after the delay', () => {
    expect(kinds(every(10, ['critical', 'critical', 'critical', 'critical', 'critical', 'critical']))).toEqual(['firing:critical@0', 'escalation:critical@30']);
  });

  it('sends nothing during a silence, and fires once when it ends for what is still failing', () => {
    const runs = every(15, ['ok', 'critical', 'critical', 'critical', 'critical', 'critical'], (i) => i >= 1 && i <= 3);
    expect(kinds(runs, { ...policy, escalateAfterMs: undefined })).toEqual(['firing:critical@60']);
  });

  it('does not re-send an alert that was already out before the window just because the window ended', () => {
    // Fired at 0, silenced from 60 to 360: the reminder due at 240 counts as sent, so the next is due at 480, not at 375.
    const runs = every(15, Array(35).fill('critical'), (i) => i >= 4 && i <= 24);
    expect(kinds(runs, { ...policy, escalateAfterMs: undefined })).toEqual(['firing:critical@0', 'repeat:critical@480']);
  });

  it('sends no RESOLVED for an alert nobody was told about', () => {
    expect(kinds(every(15, ['warning', 'ok']))).toEqual([]);
    expect(kinds(every(15, ['critical', 'ok'], (i) => i === 0))).toEqual([]);
  });

  describe('properties over generated histories', () => {
    const history = fc.array(
      fc.record({ gap: fc.integer({ min: 1, max: 600 }), severity: fc.constantFrom<Sev>('ok', 'ok', 'warning', 'critical'), silenced: fc.boolean() }),
      { minLength: 1, maxLength: 120 },
    ).map((xs) => { let at = 0; return xs.map((x) => ({ at: (at += x.gap) * MIN, severity: x.severity, silenced: x.silenced })); });
    const policies = fc.record({
      failuresBeforeAlert: fc.record({ critical: fc.integer({ min: 1, max: 3 }), warning: fc.integer({ min: 1, max: 4 }) }),
      repeatMs: fc.record({ critical: fc.integer({ min: 5, max: 600 }).map((m) => m * MIN), warning: fc.integer({ min: 5, max: 1440 }).map((m) => m * MIN) }),
      okBeforeResolve: fc.integer({ min: 1, max: 3 }),
      escalateAfterMs: fc.option(fc.integer({ min: 5, max: 600 }).map((m) => m * MIN), { nil: undefined }),
    });

    it('never sends anything during a silence', () => {
      fc.assert(fc.property(history, policies, (runs, p) => {
        const silentAt = new Set(runs.filter((r) => r.silenced).map((r) => r.at));
        return replay(runs, p).notices.every((n) => !silentAt.has(n.at));
      }));
    });

    it('alerts only after N consecutive failures, never repeats within the interval, and resolves exactly once per announced episode', () => {
      fc.assert(fc.property(history, policies, (runs, p) => {
        const { notices } = replay(runs, p);
        let streak = 0;
        let announced = false;
        let lastSent: { at: number; severity: string } | undefined;
        let okStreak = 0;
        let failing = false;
        let escalated = false;
        let since = 0;
        const byAt = new Map<number, Notice[]>();
        for (const n of notices) byAt.set(n.at, [...(byAt.get(n.at) ?? []), n]);
        for (const r of runs) {
          const sent = byAt.get(r.at) ?? [];
          if (r.severity === 'ok') {
            okStreak++;
            if (failing && okStreak >= p.okBeforeResolve) {
              const resolved = sent.filter((n) => n.kind === 'resolved').length;
              expect(resolved).toBe(announced && !r.silenced ? 1 : 0);
              failing = false; announced = false; streak = 0; lastSent = undefined; escalated = false;
            } else {
              expect(sent).toEqual([]);
            }
            if (failing) streak = 0;
            continue;
          }
          if (!failing) { failing = true; since = r.at; }
          okStreak = 0;
          streak++;
          for (const n of sent) {
            if (n.kind === 'firing' || n.kind === 'repeat') {
              expect(streak).toBeGreaterThanOrEqual(p.failuresBeforeAlert[r.severity as 'warning' | 'critical']);
              if (n.kind === 'repeat') expect(r.at - lastSent!.at).toBeGreaterThanOrEqual(p.repeatMs[n.severity]);
              lastSent = { at: r.at, severity: n.severity };
              announced = true;
            }
            if (n.kind === 'escalation') {
              expect(escalated).toBe(false);
              expect(n.severity).toBe('critical');
              expect(r.at - since).toBeGreaterThanOrEqual(p.escalateAfterMs!);
              escalated = true;
            }
            expect(n.kind).not.toBe('resolved');
          }
        }
      }), { numRuns: 500 });
    });

    it('fires on the first open run after a silence when the alert is due and was never sent', () => {
      fc.assert(fc.property(history, policies, (runs, p) => {
        const { notices, states } = replay(runs, p);
        runs.forEach((r, i) => {
          const prev = states[i - 1];
          if (r.silenced || r.severity === 'ok' || !prev || prev.status !== 'failing' || prev.announced) return;
          if (states[i]!.consecutiveFailures >= p.failuresBeforeAlert[r.severity as 'warning' | 'critical']) {
            expect(notices.some((n) => n.at === r.at && n.kind === 'firing')).toBe(true);
          }
        });
      }), { numRuns: 300 });
    });
  });
});

describe('escalation levels and acknowledge (fake clock)', () => {
  // The DigitalMe runbook: level 1 after 15 minutes, level 2 after an hour, level 3 at once for critical.
  const levels: AlertPolicy = {
    ...policy,
    escalateAfterMs: undefined,
    escalation: [
      { afterMs: 15 * MIN, severities: ['critical', 'warning'] },
      { afterMs: 60 * MIN, severities: ['critical', 'warning'] },
      { afterMs: 0, severities: ['critical'] },
    ],
  };
  const levelsOf = (notices: Notice[]) => notices.filter((n) => n.kind === 'escalation').map((n) => n.level);

  it('sends each level once per episode, in time order, and again in the next episode', () => {
    // Prepare: a critical failure every 5 minutes for 2 hours, a pass, then a new failure.
    let state: AlertState | undefined;
    const sent: string[] = [];
    const severities: Sev[] = [...Array(25).fill('critical'), 'ok', 'critical'];
    // Act
    severities.forEach((sev, i) => {
      const out = step(state, finding(sev), i * 5 * MIN, levels, false);
      state = out.next;
      sent.push(...out.notices.map((n) => `${n.kind}${n.level ?? ''}@${(i * 5)}`));
    });
    // Assess
    expect(sent.filter((s) => s.startsWith('escalation'))).toEqual(['escalation3@0', 'escalation1@15', 'escalation2@60', 'escalation3@130']);
  });

  it('escalates a warning only to the levels that take warnings', () => {
    // Prepare / Act
    const { notices } = replay(every(5, Array(20).fill('warning')), levels);
    // Assess
    expect(levelsOf(notices)).toEqual([1, 2]);
  });

  it('stops reminders and escalation once acknowledged, and still sends the RESOLVED', () => {
    // Prepare: fired at 0, acknowledged at 10 minutes for 24 hours.
    let state = step(undefined, finding('critical'), 0, levels, false).next;
    state = acknowledge(state, 10 * MIN + 24 * 60 * MIN, 'arn:aws:iam::123456789012:user/ana');
    const notices: Notice[] = [];
    // Act: still failing for 5 hours, then passing.
    for (let t = 15; t <= 300; t += 15) {
      const out = step(state, finding('critical'), t * MIN, levels, false);
      state = out.next;
      notices.push(...out.notices);
    }
    const resolved = step(state, finding('ok'), 315 * MIN, levels, false);
    // Assess
    expect(notices.map((n) => n.kind)).toEqual([]);
    expect(resolved.notices.map((n) => n.kind)).toEqual(['resolved']);
    expect(resolved.next.acknowledgedUntil ?? null).toBeNull();
  });

  it('resumes reminders and escalation when the acknowledge expires', () => {
    // Prepare
    let state = step(undefined, finding('critical'), 0, levels, false).next;
    state = acknowledge(state, 30 * MIN, 'ana');
    // Act
    const during = step(state, finding('critical'), 20 * MIN, levels, false);
    const after = step(during.next, finding('critical'), 300 * MIN, levels, false);
    // Assess
    expect(during.notices).toEqual([]);
    expect(isAcknowledged(during.next, 20 * MIN)).toBe(true);
    expect(after.notices.map((n) => `${n.kind}${n.level ?? ''}`)).toEqual(['repeat', 'escalation1', 'escalation2']);
  });

  it('reads the escalation of older configs as one critical level', () => {
    // Prepare / Act
    const steps = escalationSteps({ ...policy, escalateAfterMs: 30 * MIN });
    // Assess
    expect(steps).toEqual([{ afterMs: 30 * MIN, severities: ['critical'] }]);
  });
});
