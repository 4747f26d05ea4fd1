/** backup.sh under every injected fault (see test/support/fault-cases.ts for what each case guarantees). */
import { describe, expect, it } from 'vitest';
import { BackupResult } from '../../../lib/results/backup.js';
import { assertContainers, BACKUP_COMMANDS, BUCKET, liveData, prepareHost, states, toFault, useFaultBench } from '../../support/fault-cases.js';
import { callCounts, faultName, MODES, oneJson } from '../../support/fault-harness.js';

// The source backup is a prior backup each case must leave untouched.
const bench = useFaultBench('backup', { sourceBackup: true });

describe('backup.sh under injected faults', () => {
  it('calls exactly the commands the harness breaks, and succeeds without a fault', async () => {
    // Act
    const p = prepareHost();
    const r = await bench.run('backup.sh', p, undefined);
    // Assess
    const result = BackupResult.parse(r.json);
    expect(result.complete).toBe(true);
    expect(new Set(callCounts(r.log).keys())).toEqual(new Set(BACKUP_COMMANDS));
    p.host.dispose();
  });

  const cases = BACKUP_COMMANDS.flatMap((c) => MODES.map((m) => toFault(c, m)));
  it.concurrent.each(cases.map((f) => [faultName(f), f] as const))('backup with %s: one true result, nothing lost', async (_name, fault) => {
    // Prepare
    const p = prepareHost();
    const priorObjects = bench.lab.objects();
    const before = { data: liveData(p), containers: states(p.host) };
    // Act
    const r = await bench.run('backup.sh', p, fault);
    // Assess
    const { doc, problem } = oneJson(r.stdout);
    expect(problem, r.stderr).toBeUndefined();
    const result = BackupResult.parse(doc);
    bench.outcomes.push({ script: 'backup.sh', fault: faultName(fault), outcome: result.complete ? 'complete (fault had no effect on the data)' : 'incomplete, no manifest', detail: result.errors[0] ?? '' });
    const manifest = `${result.prefix}/manifest.json`;
    if (result.complete) bench.assertRestorable(result);
    else expect(bench.lab.read(BUCKET, manifest), 'a manifest after a failed stage').toBeUndefined();
    if (!result.complete) expect(result.errors.length).toBeGreaterThan(0);
    assertContainers(before.containers, states(p.host), result.errors);
    const after = bench.lab.objects();
    for (const [k, sha] of Object.entries(priorObjects)) expect(after[k], `prior object ${k}`).toBe(sha);
    expect(liveData(p)).toEqual(before.data);
    p.host.dispose();
  });
});
