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
  async recordRemediation(stack: string, host: string, service: string, at: number) {
    const past = await this.remediations(stack, host);
    this.restarts.set(`${stack}#${host}`, { ...past, [service]: [...(past[service] ?? []), at] });
  }

  async backupSizes(stack: string, host: string) {
    return this.sizes.get(`${stack}#${host}`) ?? {};
  }
  async recordBackupSizes(stack: string, host: string, sizes: Record<string, number>) {
    const past = await this.backupSizes(stack, host);
    this.sizes.set(`${stack}#${host}`, Object.fromEntries(Object.entries(sizes).map(([k, v]) => [k, [...(past[k] ?? []), v].slice(-10)])));
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
