/**
 * One StateStore suite, run against the in-memory store the other tests use and against
 * DynamoStateStore speaking the DynamoDB protocol to dynalite, so the fake cannot drift from
 * DynamoDB's behaviour (conditions, list_append, ordering, paging).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OK_STATE, type AlertState } from '../../../lambdas/result/alert-state.js';
import { DynamoStateStore, type StateStore } from '../../../lambdas/result/state-store.js';
import { startDynalite, type LocalDynamo } from '../../support/dynalite.js';
import { MemoryStateStore } from '../../support/memory-store.js';

let local: LocalDynamo;
let tables = 0;
beforeAll(async () => {
  local = await startDynalite();
});
afterAll(async () => local.close());

const implementations: [string, () => Promise<StateStore>][] = [
  ['MemoryStateStore', async () => new MemoryStateStore()],
  ['DynamoStateStore over dynalite', async () => {
    const name = `state-${++tables}`;
    await local.createStateTable(name);
    return new DynamoStateStore(local.doc, name, 30);
  }],
];

const finding = { check: 'container.state', target: 'api', severity: 'critical' as const, observed: 'exited', threshold: 'running', message: 'm' };
const failing: AlertState = { ...OK_STATE, status: 'failing', severity: 'critical', since: 1, consecutiveFailures: 1, runs: 1 };
const T = Date.parse('2026-11-22T10:00:00Z');

describe.each(implementations)('StateStore contract: %s', (_name, make) => {
  let store: StateStore;
  beforeEach(async () => {
    store = await make();
  });

  it('appends a backup run\'s sizes once, however often the event is delivered', async () => {
    // Act
    const first = await store.recordBackupSizes('web', 'i-1', { db: 100, files: 10 }, 'run-1');
    const again = await store.recordBackupSizes('web', 'i-1', { db: 100, files: 10 }, 'run-1');
    const next = await store.recordBackupSizes('web', 'i-1', { db: 120 }, 'run-2');
    // Assess
    expect([first, again, next]).toEqual([true, false, true]);
    expect(await store.backupSizes('web', 'i-1')).toEqual({ db: [100, 120], files: [10] });
  });

  it('keeps only the last 10 sizes of a source, oldest first', async () => {
    // Act
    for (let i = 1; i <= 25; i++) await store.recordBackupSizes('web', 'i-1', { db: i }, `run-${i}`);
    // Assess
    expect((await store.backupSizes('web', 'i-1')).db).toEqual([16, 17, 18, 19, 20, 21, 22, 23, 24, 25]);
  });

  it('does not lose one of two concurrent appends', async () => {
    // Act
    await Promise.all([
      store.recordBackupSizes('web', 'i-1', { db: 1 }, 'run-a'),
      store.recordBackupSizes('web', 'i-1', { db: 2 }, 'run-b'),
      store.recordRemediation('web', 'i-1', 'api', T),
      store.recordRemediation('web', 'i-1', 'api', T + 1),
    ]);
    // Assess
    expect((await store.backupSizes('web', 'i-1')).db!.sort()).toEqual([1, 2]);
    expect((await store.remediations('web', 'i-1')).api!.sort()).toEqual([T, T + 1]);
  });

  it('records a restart once per time stamp', async () => {
    // Act
    await store.recordRemediation('web', 'i-1', 'api', T);
    await store.recordRemediation('web', 'i-1', 'api', T);
    await store.recordRemediation('web', 'i-1', 'db', T);
    // Assess
    expect(await store.remediations('web', 'i-1')).toEqual({ api: [T], db: [T] });
  });

  it('saves, loads and deletes alert states per host', async () => {
    // Act
    await store.saveAlerts('web', 'i-1', [{ key: 'health-check#container.state#api', state: failing, commandId: 'c1', finding }], []);
    const loaded = await store.loadAlerts('web', 'i-1');
    await store.saveAlerts('web', 'i-1', [], ['health-check#container.state#api']);
    // Assess
    expect([...loaded.values()]).toEqual([{ key: 'health-check#container.state#api', state: failing, commandId: 'c1', finding }]);
    expect((await store.loadAlerts('web', 'i-1')).size).toBe(0);
    expect((await store.loadAlerts('web', 'i-2')).size).toBe(0);
  });

  it('hands each parked notice out once, and knows a flushed command', async () => {
    // Prepare
    const entry = (id: string) => ({ id, host: { runbook: 'health-check', stack: 'web', runId: 'r', instanceId: 'i-1', hostname: 'h', commandId: 'c', status: 'Success' }, notice: { kind: 'firing', severity: 'critical', finding, state: failing } }) as never;
    await store.addOutbox('c', [entry('i-1#0'), entry('i-1#1')]);
    // Act
    const [a, b] = await Promise.all([store.claimOutbox('c'), store.claimOutbox('c')]);
    await store.markFlushed('c');
    // Assess
    expect([...a!, ...b!].map((e: { id: string }) => e.id).sort()).toEqual(['i-1#0', 'i-1#1']);
    expect(await store.claimOutbox('c')).toEqual([]);
    expect([await store.isFlushed('c'), await store.isFlushed('other')]).toEqual([true, false]);
  });

  it('returns the newest runs of a stack first, and only active silences', async () => {
    // Prepare
    const run = (at: number, host: string) => ({ stack: 'web', host, runbook: 'health-check', runId: 'r', commandId: `c-${at}`, status: 'Success', at, critical: 0, warning: 0, notices: 0 });
    // Act
    await store.recordRun(run(T, 'i-1'));
    await store.recordRun(run(T + 60_000, 'i-2'));
    await store.recordRun({ ...run(T + 120_000, 'i-1'), stack: 'db' });
    await store.putSilence({ id: 'old', until: T - 1, reason: 'x' });
    await store.putSilence({ id: 'now', until: T + 3_600_000, stack: 'web', reason: 'y' });
    // Assess
    expect((await store.recentRuns('web', 10)).map((r) => r.host)).toEqual(['i-2', 'i-1']);
    expect((await store.recentRuns('web', 1)).map((r) => r.host)).toEqual(['i-2']);
    expect((await store.activeSilences(T)).map((s) => s.id)).toEqual(['now']);
  });

  it('moves last-seen forward only', async () => {
    // Prepare
    const run = (at: number, runId: string) => ({ stack: 'web', host: 'i-1', runbook: 'backup', runId, commandId: runId, status: 'Success', at, critical: 0, warning: 0, notices: 0, verified: true });
    // Act
    await store.recordRun(run(T + 1000, 'new'));
    await store.recordRun(run(T, 'late'));
    // Assess
    const seen = await store.lastSeen('web');
    expect(seen.filter((s) => s.runbook === 'backup').map((s) => s.runId)).toEqual(['new']);
  });
});
