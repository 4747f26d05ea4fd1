/** restore.sh under every injected fault (see test/support/fault-cases.ts for what each case guarantees). */
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { RestoreResult } from '../../../lib/results/restore.js';
import { assertContainers, liveData, prepareHost, RESTORE_COMMANDS, SOURCE_HOST, sqlite, states, toFault, useFaultBench } from '../../support/fault-cases.js';
import { callCounts, MODES, oneJson } from '../../support/fault-harness.js';

const bench = useFaultBench('restore', { sourceBackup: true });

describe('restore.sh under injected faults', () => {
  let baseline: Map<string, number>;
  let backedUp: ReturnType<typeof liveData>;

  /** A host as the backup saw it, then changed, so a restore has something to put back. */
  function changedHost() {
    const p = prepareHost();
    const original = liveData(p);
    writeFileSync(join(p.vol, 'intruder.txt'), 'written after the backup');
    sqlite(p.db, 'DELETE FROM t WHERE id > 100;');
    return { p, original };
  }

  beforeAll(async () => {
    const { p, original } = changedHost();
    backedUp = original;
    const r = await bench.run('restore.sh', p, undefined, { SHIPSHAPE_FROM_HOST: SOURCE_HOST });
    const result = RestoreResult.parse(r.json);
    expect(result.errors, r.stderr).toEqual([]);
    expect(liveData(p)).toEqual(backedUp);
    baseline = callCounts(r.log);
    p.host.dispose();
  }, 60_000);

  it('calls exactly the commands the harness breaks', () => {
    expect(new Set(baseline.keys())).toEqual(new Set(RESTORE_COMMANDS));
  });

  // Each command failing, hanging or silent throughout, then failing once at its last call of
  // a clean run (after the safety backup, while the restore changes data): that must roll back.
  const cases = [...RESTORE_COMMANDS.flatMap((c) => MODES.map((m) => ({ command: c, mode: m, last: false }))), ...RESTORE_COMMANDS.map((c) => ({ command: c, mode: 'fail' as const, last: true })),
    ...['tar', 'zstd'].map((c) => ({ command: c, mode: 'nothing' as const, last: true }))];
  it.concurrent.each(cases.map((c) => [`${c.command} ${c.mode}${c.last ? ' at its last call' : ''}`, c] as const))('restore with %s: one true result, data restored or as it was', async (name, c) => {
    // Prepare
    const { p } = changedHost();
    const fault = c.last ? toFault(c.command, c.mode, (baseline.get(c.command) ?? 1) - 1, 1) : toFault(c.command, c.mode);
    const priorObjects = bench.lab.objects();
    const before = { data: liveData(p), containers: states(p.host) };
    // Act
    const r = await bench.run('restore.sh', p, fault, { SHIPSHAPE_FROM_HOST: SOURCE_HOST });
    // Assess
    const { doc, problem } = oneJson(r.stdout);
    expect(problem, r.stderr).toBeUndefined();
    const result = RestoreResult.parse(doc);
    const data = liveData(p);
    bench.outcomes.push({ script: 'restore.sh', fault: name, outcome: result.ok ? 'ok, data restored' : result.rolledBack === true ? 'failed, rolled back' : result.rolledBack === false ? 'failed, rollback failed (reported)' : 'failed before any change', detail: result.errors[0] ?? '' });
    if (result.ok) expect(data).toEqual(backedUp);
    else if (result.rolledBack === false) expect(result.errors.length).toBeGreaterThan(0);
    else expect(data).toEqual(before.data);
    if (!result.ok) expect(result.errors.length).toBeGreaterThan(0);
    assertContainers(before.containers, states(p.host), result.errors);
    const after = bench.lab.objects();
    for (const [k, sha] of Object.entries(priorObjects)) expect(after[k], `prior object ${k}`).toBe(sha);
    expect(readdirSync(join(p.host.dir, 'scratch'))).toEqual([]);
    p.host.dispose();
  });
});

// The same restore from a backup uploaded in 64 KiB parts: each part is hashed on its own (dd
// reads it into the hash), a step a single-part archive never takes.
describe('restore.sh of an archive in parts under injected faults', () => {
  const parts = useFaultBench('restore-parts', { sourceBackup: true, sourcePartBytes: String(64 * 1024) });
  let backedUp: ReturnType<typeof liveData>;
  function changedHost() {
    const p = prepareHost({ bigFile: true });
    const original = liveData(p);
    writeFileSync(join(p.vol, 'big.bin'), 'overwritten after the backup');
    return { p, original };
  }

  beforeAll(async () => {
    const { p, original } = changedHost();
    backedUp = original;
    const r = await parts.run('restore.sh', p, undefined, { SHIPSHAPE_FROM_HOST: SOURCE_HOST });
    expect(RestoreResult.parse(r.json).errors, r.stderr).toEqual([]);
    expect(liveData(p)).toEqual(backedUp);
    expect(callCounts(r.log).get('dd')).toBeGreaterThanOrEqual(3);
    p.host.dispose();
  }, 60_000);

  it.concurrent.each(['dd', 'openssl'].flatMap((c) => MODES.map((m) => [`${c} ${m}`, c, m] as const)))('restore in parts with %s: one true result, nothing changed', async (name, command, mode) => {
    // Prepare
    const { p } = changedHost();
    const before = liveData(p);
    // Act
    const r = await parts.run('restore.sh', p, toFault(command, mode), { SHIPSHAPE_FROM_HOST: SOURCE_HOST });
    // Assess: a part that is not hashed whole never passes for the archive, and nothing changed
    const { doc, problem } = oneJson(r.stdout);
    expect(problem, r.stderr).toBeUndefined();
    const result = RestoreResult.parse(doc);
    parts.outcomes.push({ script: 'restore.sh (archive in parts)', fault: name, outcome: result.ok ? 'ok, data restored' : 'failed before any change', detail: result.errors[0] ?? '' });
    expect(result.ok, r.stderr).toBe(false);
    expect(result.rolledBack).toBeNull();
    expect(result.errors.join('\n')).toMatch(/nothing was changed/);
    expect(liveData(p)).toEqual(before);
    expect(readdirSync(join(p.host.dir, 'scratch'))).toEqual([]);
    p.host.dispose();
  });
});

