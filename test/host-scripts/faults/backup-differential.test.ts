/** backup.sh's differential runs under injected faults (see test/support/fault-cases.ts for what each case guarantees). */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BackupResult } from '../../../lib/results/backup.js';
import { BUCKET, prepareHost, SOURCE_HOST, toFault, useFaultBench } from '../../support/fault-cases.js';
import { faultName, MODES, oneJson } from '../../support/fault-harness.js';

const bench = useFaultBench('backup-differential', { sourceBackup: true });

describe('backup.sh differential under injected faults', () => {
  /**
   * A host whose state holds a verified full (SOURCE_HOST's run, copied to its own prefix): its
   * next run is a differential. Run prefixes are stamped to the second, so a run in the second of
   * the copied full's stamp would land on the full's own prefix: wait that second out.
   */
  async function hostWithFull() {
    const stamp = bench.sourceRun.split('/').at(-1)!;
    while (new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z') <= stamp) await new Promise((r) => setTimeout(r, 100));
    const p = prepareHost();
    const instance = `i-0d${String(++bench.seq).padStart(15, '0')}`;
    const run = bench.sourceRun.replace(SOURCE_HOST, instance);
    cpSync(join(bench.lab.s3, BUCKET, bench.sourceRun), join(bench.lab.s3, BUCKET, run), { recursive: true });
    cpSync(bench.sourceState, join(p.host.dir, 'state'), { recursive: true });
    const state = join(p.host.dir, 'state', 'web', 'backup', 'app_files', 'state');
    writeFileSync(state, readFileSync(state, 'utf8').replaceAll(SOURCE_HOST, instance));
    return { p, instance, state };
  }

  it('makes a differential of the volume on the full without a fault', async () => {
    // Prepare
    const { p, instance, state } = await hostWithFull();
    // Act
    const r = await bench.run('backup.sh', p, undefined, { AWS_SSM_INSTANCE_ID: instance });
    // Assess
    const result = BackupResult.parse(r.json);
    expect(result.errors, r.stderr).toEqual([]);
    expect(result.archives.map((a) => [a.name, a.level])).toEqual([['app-db', 0], ['other-db', 0], ['app_files', 1]]);
    expect(readFileSync(state, 'utf8')).toMatch(/^since\t1$/m);
    p.host.dispose();
  });

  const cases = ['tar', 'zstd', 'openssl', 'curl'].flatMap((c) => MODES.map((m) => toFault(c, m)));
  it.concurrent.each(cases.map((f) => [faultName(f), f] as const))('differential with %s: one true result, no manifest and no moved base after a fault', async (_name, fault) => {
    // Prepare
    const { p, instance, state } = await hostWithFull();
    const priorObjects = bench.lab.objects();
    const stateBefore = readFileSync(state, 'utf8');
    // Act
    const r = await bench.run('backup.sh', p, fault, { AWS_SSM_INSTANCE_ID: instance });
    // Assess
    const { doc, problem } = oneJson(r.stdout);
    expect(problem, r.stderr).toBeUndefined();
    const result = BackupResult.parse(doc);
    bench.outcomes.push({ script: 'backup.sh (differential)', fault: faultName(fault), outcome: result.complete ? `complete, volume level ${result.archives.at(-1)?.level}` : 'incomplete, no manifest', detail: result.errors[0] ?? '' });
    if (result.complete) bench.assertRestorable(result);
    else {
      expect(bench.lab.read(BUCKET, `${result.prefix}/manifest.json`), 'a manifest after a failed stage').toBeUndefined();
      expect(result.errors.length).toBeGreaterThan(0);
      expect(readFileSync(state, 'utf8'), 'the base moved after a failed run').toBe(stateBefore);
    }
    const after = bench.lab.objects();
    for (const [k, sha] of Object.entries(priorObjects)) expect(after[k], `prior object ${k}`).toBe(sha);
    p.host.dispose();
  });
});
