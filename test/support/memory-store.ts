import type { Silence } from '../../lambdas/result/silences.js';
import { VERIFIED_BACKUP, type DispatchRecord, type OutboxEntry, type RunRecord, type SeenRecord, type StateStore, type StoredAlert } from '../../lambdas/result/state-store.js';

/** The StateStore contract in memory, for end-to-end tests that need no DynamoDB wire. */
export class MemoryStateStore implements StateStore {
  readonly alerts = new Map<string, Map<string, StoredAlert>>();
  readonly silences: Silence[] = [];
  readonly runs: RunRecord[] = [];
  readonly outbox = new Map<string, OutboxEntry[]>();
  readonly flushed = new Set<string>();
  readonly sizes = new Map<string, Record<string, number[]>>();
  readonly restarts = new Map<string, Record<string, number[]>>();
  /** SEEN#<stack> -> <runbook>#<host> -> record */
  readonly seen = new Map<string, Map<string, SeenRecord>>();
  readonly dispatches = new Map<string, Record<string, DispatchRecord>>();
  readonly marks: Record<string, number> = {};

  async remediations(stack: string, host: string) {
    return this.restarts.get(`${stack}#${host}`) ?? {};
  }
  // No await between read and write: like DynamoDB's list_append, concurrent appends all land.
  async recordRemediation(stack: string, host: string, service: string, at: number) {
    const past = this.restarts.get(`${stack}#${host}`) ?? {};
    if ((past[service] ?? []).includes(at)) return;
    this.restarts.set(`${stack}#${host}`, { ...past, [service]: [...(past[service] ?? []), at].slice(-20) });
  }

  /** Runs whose sizes were recorded, per stack#host#source (the "events" list of the Dynamo items). */
  readonly sizeRuns = new Map<string, string[]>();
  async backupSizes(stack: string, host: string) {
    return this.sizes.get(`${stack}#${host}`) ?? {};
  }
  async recordBackupSizes(stack: string, host: string, sizes: Record<string, number>, runId?: string) {
    const past = this.sizes.get(`${stack}#${host}`) ?? {};
    const next = { ...past };
    let fresh = false;
    for (const [k, v] of Object.entries(sizes)) {
      const runs = this.sizeRuns.get(`${stack}#${host}#${k}`) ?? [];
      if (runId && runs.includes(runId)) continue;
      this.sizeRuns.set(`${stack}#${host}#${k}`, [...runs, runId ?? `at-${Date.now()}`]);
      next[k] = [...(past[k] ?? []), v].slice(-10);
      fresh = true;
    }
    this.sizes.set(`${stack}#${host}`, next);
    return fresh;
  }

  async addOutbox(commandId: string, entries: OutboxEntry[]) {
    this.outbox.set(commandId, [...(this.outbox.get(commandId) ?? []), ...entries]);
  }
  async claimOutbox(commandId: string) {
    const entries = this.outbox.get(commandId) ?? [];
    this.outbox.delete(commandId);
    return entries;
  }
  async markFlushed(commandId: string) {
    this.flushed.add(commandId);
  }
  async isFlushed(commandId: string) {
    return this.flushed.has(commandId);
  }

  async loadAlerts(stack: string, host: string) {
    return new Map(this.alerts.get(`${stack}#${host}`) ?? []);
  }
  async saveAlerts(stack: string, host: string, open: StoredAlert[], closed: string[]) {
    const m = this.alerts.get(`${stack}#${host}`) ?? new Map<string, StoredAlert>();
    for (const a of open) m.set(a.key, a);
    for (const k of closed) m.delete(k);
    this.alerts.set(`${stack}#${host}`, m);
  }
  async activeSilences(now: number) {
    return this.silences.filter((s) => s.until > now);
  }
  async putSilence(s: Silence) {
    this.silences.push(s);
  }
  async recordRun(r: RunRecord) {
    this.runs.push(r);
    const m = this.seen.get(r.stack) ?? new Map<string, SeenRecord>();
    for (const runbook of r.verified ? [r.runbook, VERIFIED_BACKUP] : [r.runbook]) {
      const past = m.get(`${runbook}#${r.host}`);
      if (!past || past.at <= r.at) m.set(`${runbook}#${r.host}`, { runbook, host: r.host, at: r.at, runId: r.runId, commandId: r.commandId, status: r.status });
    }
    this.seen.set(r.stack, m);
  }
  async lastSeen(stack: string) {
    return [...(this.seen.get(stack)?.values() ?? [])];
  }
  async recordDispatch(stack: string, runbook: string, d: DispatchRecord) {
    this.dispatches.set(stack, { ...this.dispatches.get(stack), [runbook]: d });
  }
  async lastDispatches(stack: string) {
    return { ...this.dispatches.get(stack) };
  }
  async watchMarks() {
    return { ...this.marks };
  }
  async setWatchMarks(set: Record<string, number>, remove: string[]) {
    Object.assign(this.marks, set);
    for (const k of remove) delete this.marks[k];
  }
  async recentRuns(stack: string, limit: number) {
    return this.runs.filter((r) => r.stack === stack).sort((a, b) => b.at - a.at).slice(0, limit);
  }
}
