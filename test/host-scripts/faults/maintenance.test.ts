/** maintenance.sh under every injected fault of its own part (see test/support/fault-cases.ts for what each case guarantees). */
import { beforeAll, describe, expect, it } from 'vitest';
import { MaintenanceResult } from '../../../lib/results/maintenance.js';
import { assertContainers, liveData, MAINTENANCE_COMMANDS, prepareHost, sqlite, states, toFault, useFaultBench } from '../../support/fault-cases.js';
import { callCounts, MODES, oneJson } from '../../support/fault-harness.js';

const bench = useFaultBench('maintenance');

describe('maintenance.sh under injected faults', () => {
  let baseline: Map<string, number>;
  beforeAll(async () => {
    const p = prepareHost();
    const r = await bench.run('maintenance.sh', p, undefined, { SHIPSHAPE_SPEC_FILE: bench.maintenanceSpec });
    const result = MaintenanceResult.parse(r.json);
    expect(result.errors, r.stderr).toEqual([]);
    baseline = callCounts(r.log);
    p.host.dispose();
  }, 60_000);

  // Each command of its own part failing, hanging or silent throughout, then failing once at its last call.
  const cases = [...MAINTENANCE_COMMANDS.flatMap((c) => MODES.map((m) => ({ command: c, mode: m, last: false }))), ...MAINTENANCE_COMMANDS.map((c) => ({ command: c, mode: 'fail' as const, last: true }))];
  it.concurrent.each(cases.map((c) => [`${c.command} ${c.mode}${c.last ? ' at its last call' : ''}`, c] as const))('maintenance with %s: one true result, the database whole', async (name, c) => {
    // Prepare
    const p = prepareHost();
    const fault = c.last ? toFault(c.command, c.mode, (baseline.get(c.command) ?? 1) - 1, 1) : toFault(c.command, c.mode);
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
    if (db?.ok) expect(db.integrity).toBe('ok');
    else expect(result.errors.length).toBeGreaterThan(0);
    // VACUUM and ANALYZE never change the rows; the file is whole whatever happened.
    expect(sqlite(p.db, 'PRAGMA integrity_check;')).toBe('ok');
    expect(liveData(p)).toEqual(before.data);
    assertContainers(before.containers, states(p.host), result.errors);
    p.host.dispose();
  });
});
