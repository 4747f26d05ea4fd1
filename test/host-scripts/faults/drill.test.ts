/** drill.sh under every injected fault (see test/support/fault-cases.ts for what each case guarantees). */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DrillResult } from '../../../lib/results/drill.js';
import { DRILL_COMMANDS, prepareHost, SOURCE_HOST, toFault, useFaultBench } from '../../support/fault-cases.js';
import { MODES, oneJson } from '../../support/fault-harness.js';

const bench = useFaultBench('drill', { sourceBackup: true });

describe('drill.sh under injected faults', () => {
  it.concurrent.each(DRILL_COMMANDS.flatMap((c) => MODES.map((m) => [`${c} ${m}`, toFault(c, m)] as const)))('drill with %s: one result, no pass without proof', async (name, fault) => {
    // Prepare
    const p = prepareHost();
    const priorObjects = bench.lab.objects();
    // Act
    const r = await bench.run('drill.sh', p, fault, { SHIPSHAPE_FROM_HOST: SOURCE_HOST });
    // Assess
    const { doc, problem } = oneJson(r.stdout);
    expect(problem, r.stderr).toBeUndefined();
    const result = DrillResult.parse(doc);
    const passed = result.errors.length === 0 && result.archives.length > 0 && result.archives.every((a) => a.ok);
    bench.outcomes.push({ script: 'drill.sh', fault: name, outcome: passed ? 'passed (fault had no effect)' : 'failed', detail: result.errors[0] ?? '' });
    // A pass needs every archive checked: databases with integrity "ok", directories with entries.
    if (passed) for (const a of result.archives) expect(a.kind === 'sqlite' ? a.integrity : a.entries).toBeTruthy();
    expect(bench.lab.objects()).toEqual(priorObjects);
    expect(readdirSync(join(p.host.dir, 'scratch'))).toEqual([]);
    p.host.dispose();
  });
});
