/**
 * backup.sh's stream over the AWS CLI transport under injected faults (see
 * test/support/fault-cases.ts for what each case guarantees): there tee feeds the hash and wc;
 * over curl, s3_put hashes and counts the parts it reads (backup.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { BackupResult } from '../../../lib/results/backup.js';
import { BUCKET, prepareHost, toFault, useFaultBench } from '../../support/fault-cases.js';
import { callCounts, MODES, oneJson } from '../../support/fault-harness.js';

const bench = useFaultBench('backup-cli', { sourceBackup: true });
const CLI = { SHIPSHAPE_S3_TRANSPORT: 'cli' };

describe('backup.sh over the AWS CLI transport under injected faults', () => {
  it('tees the stream to the hash and wc without a fault', async () => {
    // Act
    const p = prepareHost();
    const r = await bench.run('backup.sh', p, undefined, CLI);
    // Assess
    const result = BackupResult.parse(r.json);
    expect(result.complete, r.stderr).toBe(true);
    bench.assertRestorable(result);
    expect(callCounts(r.log).has('tee')).toBe(true);
    expect(callCounts(r.log).has('wc')).toBe(true);
    p.host.dispose();
  });

  it.concurrent.each(['tee', 'wc'].flatMap((c) => MODES.map((m) => [`${c} ${m}`, toFault(c, m)] as const)))('backup with %s over the CLI: one true result, no manifest unless whole', async (name, fault) => {
    // Prepare
    const p = prepareHost();
    const priorObjects = bench.lab.objects();
    // Act
    const r = await bench.run('backup.sh', p, fault, CLI);
    // Assess
    const { doc, problem } = oneJson(r.stdout);
    expect(problem, r.stderr).toBeUndefined();
    const result = BackupResult.parse(doc);
    bench.outcomes.push({ script: 'backup.sh (CLI)', fault: name, outcome: result.complete ? 'complete (fault had no effect on the data)' : 'incomplete, no manifest', detail: result.errors[0] ?? '' });
    if (result.complete) bench.assertRestorable(result);
    else {
      expect(result.errors.length).toBeGreaterThan(0);
      expect(bench.lab.read(BUCKET, `${result.prefix}/manifest.json`)).toBeUndefined();
    }
    const after = bench.lab.objects();
    for (const [k, sha] of Object.entries(priorObjects)) expect(after[k], `prior object ${k}`).toBe(sha);
    p.host.dispose();
  });
});
