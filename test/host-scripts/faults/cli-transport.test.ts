/** The AWS CLI transport under injected faults (see test/support/fault-cases.ts for what each case guarantees). */
import { describe, expect, it } from 'vitest';
import { BackupResult } from '../../../lib/results/backup.js';
import { DrillResult } from '../../../lib/results/drill.js';
import { RestoreResult } from '../../../lib/results/restore.js';
import { BUCKET, liveData, prepareHost, SOURCE_HOST, toFault, useFaultBench } from '../../support/fault-cases.js';
import { callCounts, MODES, oneJson } from '../../support/fault-harness.js';

const bench = useFaultBench('cli-transport', { sourceBackup: true });

describe('the AWS CLI transport (SHIPSHAPE_S3_TRANSPORT=cli) under injected faults', () => {
  const CLI = { SHIPSHAPE_S3_TRANSPORT: 'cli' };
  it('backs up through the CLI alone, without a fault', async () => {
    // Act
    const p = prepareHost();
    const r = await bench.run('backup.sh', p, undefined, CLI);
    // Assess
    const result = BackupResult.parse(r.json);
    expect(result.complete, r.stderr).toBe(true);
    bench.assertRestorable(result);
    expect(callCounts(r.log).has('aws')).toBe(true);
    expect(callCounts(r.log).has('curl')).toBe(false);
    p.host.dispose();
  });

  it.concurrent.each(MODES.map((m) => [m] as const))('backup with aws %s: incomplete with a reason, no manifest', async (mode) => {
    // Prepare
    const p = prepareHost();
    const priorObjects = bench.lab.objects();
    // Act
    const r = await bench.run('backup.sh', p, toFault('aws', mode), CLI);
    // Assess
    const { doc, problem } = oneJson(r.stdout);
    expect(problem, r.stderr).toBeUndefined();
    const result = BackupResult.parse(doc);
    bench.outcomes.push({ script: 'backup.sh (CLI)', fault: `aws ${mode}`, outcome: result.complete ? 'complete' : 'incomplete, no manifest', detail: result.errors[0] ?? '' });
    expect(result.complete).toBe(false);
    expect(result.errors.length).toBeGreaterThan(0);
    expect(bench.lab.read(BUCKET, `${result.prefix}/manifest.json`)).toBeUndefined();
    const after = bench.lab.objects();
    for (const [k, sha] of Object.entries(priorObjects)) expect(after[k], `prior object ${k}`).toBe(sha);
    p.host.dispose();
  });

  it.concurrent.each([['restore.sh'], ['drill.sh']] as const)('%s with aws failing: fails with a reason, data and backups as they were', async (script) => {
    // Prepare
    const p = prepareHost();
    const priorObjects = bench.lab.objects();
    const before = liveData(p);
    // Act
    const r = await bench.run(script, p, toFault('aws', 'fail'), { ...CLI, SHIPSHAPE_FROM_HOST: SOURCE_HOST });
    // Assess
    const { doc, problem } = oneJson(r.stdout);
    expect(problem, r.stderr).toBeUndefined();
    const errors = script === 'restore.sh' ? RestoreResult.parse(doc).errors : DrillResult.parse(doc).errors;
    bench.outcomes.push({ script: `${script} (CLI)`, fault: 'aws fail', outcome: 'failed', detail: errors[0] ?? '' });
    expect(errors.join('\n')).toContain('injected fault: aws');
    expect(liveData(p)).toEqual(before);
    expect(bench.lab.objects()).toEqual(priorObjects);
    p.host.dispose();
  });
});
