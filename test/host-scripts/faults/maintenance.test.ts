/** maintenance.sh under every injected fault of its own part (see test/support/fault-cases.ts for what each case guarantees). */
import { beforeAll, describe, expect, it } from 'vitest';
import { BackupResult } from '../../../lib/results/backup.js';
import { MaintenanceResult } from '../../../lib/results/maintenance.js';
import { assertContainers, liveData, MAINTENANCE_COMMANDS, prepareHost, sqlite, states, toFault, useFaultBench } from '../../support/fault-cases.js';
import { callCounts, MODES, oneJson } from '../../support/fault-harness.js';

const bench = useFaultBench('maintenance');

describe('maintenance.sh under injected faults', () => {
  let baseline: Map<string, number>;
  /** Calls of each command in the backup maintenance takes first: a fault skipping them hits maintenance's own part. */
  let backupCalls: Map<string, number>;
  beforeAll(async () => {
    const [m, b] = [prepareHost(), prepareHost()];
    const [r, rb] = await Promise.all([
      bench.run('maintenance.sh', m, undefined, { SHIPSHAPE_SPEC_FILE: bench.maintenanceSpec }),
      bench.run('backup.sh', b, undefined, { SHIPSHAPE_SPEC_FILE: bench.maintenanceSpec }),
    ]);
    const result = MaintenanceResult.parse(r.json);
    expect(result.errors, r.stderr).toEqual([]);
    expect(BackupResult.parse(rb.json).errors, rb.stderr).toEqual([]);
    baseline = callCounts(r.log);
    backupCalls = callCounts(rb.log);
    // Every command of its own part is called again after the backup.
    for (const c of MAINTENANCE_COMMANDS) expect(baseline.get(c) ?? 0, c).toBeGreaterThan(backupCalls.get(c) ?? 0);
    m.host.dispose();
    b.host.dispose();
  }, 60_000);

  // Each command of its own part failing, hanging or silent from its first call after the backup on,
  // then failing once at its last call; and once during the backup, which must leave every database alone.
  type Case = { command: string; mode: (typeof MODES)[number]; when: 'after the backup' | 'at its last call' | 'during the backup first' };
  const cases: Case[] = [...MAINTENANCE_COMMANDS.flatMap((c) => MODES.map((m): Case => ({ command: c, mode: m, when: 'after the backup' }))),
    ...MAINTENANCE_COMMANDS.map((c): Case => ({ command: c, mode: 'fail', when: 'at its last call' })), { command: 'sqlite3', mode: 'fail', when: 'during the backup first' }];
  it.concurrent.each(cases.map((c) => [`${c.command} ${c.mode} ${c.when}`, c] as const))('maintenance with %s: one true result, the database whole', async (name, c) => {
    // Prepare
    const p = prepareHost();
    const fault = c.when === 'at its last call' ? toFault(c.command, c.mode, (baseline.get(c.command) ?? 1) - 1, 1)
      : c.when === 'after the backup' ? toFault(c.command, c.mode, backupCalls.get(c.command) ?? 0) : toFault(c.command, c.mode);
    const before = { data: liveData(p), containers: states(p.host) };
    // Act
    const r = await bench.run('maintenance.sh', p, fault, { SHIPSHAPE_SPEC_FILE: bench.maintenanceSpec, SHIPSHAPE_MAINTENANCE_TIMEOUT_SECONDS: '2' });
    // Assess
    const { doc, problem } = oneJson(r.stdout);
    expect(problem, r.stderr).toBeUndefined();
    const result = MaintenanceResult.parse(doc);
    const db = result.sqlite[0];
    bench.outcomes.push({ script: 'maintenance.sh', fault: name, outcome: !db ? 'no database touched' : db.ok ? 'ok' : db.rolledBack === true ? 'failed, database put back' : db.rolledBack === false ? 'failed, put back failed (reported)' : 'failed',
      detail: result.errors[0] ?? '' });
    if (c.when === 'during the backup first') {
      expect(result.backupPrefix).toBeNull();
      expect(db).toBeUndefined();
    } else expect(result.backupPrefix, 'the fault hit the backup, not maintenance itself').toBeTruthy();
    if (db?.ok) expect(db.integrity).toBe('ok');
    else expect(result.errors.length).toBeGreaterThan(0);
    // A docker inspect that answers nothing is said so, not taken for a database without a mount.
    if (c.command === 'docker inspect' && c.mode === 'nothing' && c.when === 'after the backup') expect(result.errors.join('\n')).toMatch(/docker inspect failed or answered nothing/);
    // VACUUM and ANALYZE never change the rows; the file is whole whatever happened.
    expect(sqlite(p.db, 'PRAGMA integrity_check;')).toBe('ok');
    expect(liveData(p)).toEqual(before.data);
    assertContainers(before.containers, states(p.host), result.errors);
    p.host.dispose();
  });
});
