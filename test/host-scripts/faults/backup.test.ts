/** backup.sh under every injected fault (see test/support/fault-cases.ts for what each case guarantees). */
import { describe, expect, it } from 'vitest';
import { BackupResult } from '../../../lib/results/backup.js';
import { assertContainers, BACKUP_COMMANDS, BUCKET, liveData, prepareHost, states, toFault, useFaultBench } from '../../support/fault-cases.js';
import { callCounts, faultName, MODES, oneJson } from '../../support/fault-harness.js';

// The source backup is a prior backup each case must leave untouched.
const bench = useFaultBench('backup', { sourceBackup: true });
// Over curl, s3_put reads the parts with dd (whole 64 KiB blocks) and hashes and counts them:
// no tee, no wc (the CLI transport's stream uses them: cli-transport.test.ts).
const CURL_BACKUP_COMMANDS = [...BACKUP_COMMANDS.filter((c) => c !== 'wc' && c !== 'tee'), 'dd'];

describe('backup.sh under injected faults', () => {
  it('calls exactly the commands the harness breaks, and succeeds without a fault', async () => {
    // Act
    const p = prepareHost();
    const r = await bench.run('backup.sh', p, undefined);
    // Assess
    const result = BackupResult.parse(r.json);
    expect(result.complete).toBe(true);
    expect(new Set(callCounts(r.log).keys())).toEqual(new Set(CURL_BACKUP_COMMANDS));
    p.host.dispose();
  });

  // Default parts (every archive in one), and 1 KiB parts: multipart uploads whose whole-stream
  // hash is fed from the parts (curl and openssl faults hit it there).
  const cases = [
    ...CURL_BACKUP_COMMANDS.flatMap((c) => MODES.map((m) => ({ fault: toFault(c, m), partBytes: '' }))),
    ...['openssl', 'curl'].flatMap((c) => MODES.map((m) => ({ fault: toFault(c, m), partBytes: '1024' }))),
  ];
  it.concurrent.each(cases.map((c) => [`${faultName(c.fault)}${c.partBytes ? ` (${c.partBytes}-byte parts)` : ''}`, c] as const))('backup with %s: one true result, nothing lost', async (name, { fault, partBytes }) => {
    // Prepare
    const p = prepareHost();
    const priorObjects = bench.lab.objects();
    const before = { data: liveData(p), containers: states(p.host) };
    // Act
    const r = await bench.run('backup.sh', p, fault, partBytes ? { SHIPSHAPE_S3_PART_BYTES: partBytes } : {});
    // Assess
    const { doc, problem } = oneJson(r.stdout);
    expect(problem, r.stderr).toBeUndefined();
    const result = BackupResult.parse(doc);
    bench.outcomes.push({ script: 'backup.sh', fault: name, outcome: result.complete ? 'complete (fault had no effect on the data)' : 'incomplete, no manifest', detail: result.errors[0] ?? '' });
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
