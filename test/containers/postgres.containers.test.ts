/**
 * PostgreSQL for real: a container built from Debian's postgresql (test/containers/postgres-image.ts),
 * written to in 100-row transactions while backup.sh runs pg_dump -Fc into a local S3 (s3rver);
 * then the drill checks the dump in scratch space, and restore.sh puts it back with pg_restore.
 * Row for row: the restored table must be exactly the live table's first N rows as they were
 * (same ids, same payloads), N a multiple of 100 (whole transactions), and nothing written after
 * the dump's snapshot may survive the restore.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFleet } from '../../lib/config/load.js';
import { BackupResult } from '../../lib/results/backup.js';
import { DrillResult } from '../../lib/results/drill.js';
import { RestoreResult } from '../../lib/results/restore.js';
import { backupSpecLines } from '../../lib/runbooks/backup.js';
import { startS3 } from '../support/aws-local.js';
import { engineStatus, podman, podmanEnv, SHIM_BIN, waitFor } from '../support/podman.js';
import { runHostScript } from '../support/run-script.js';
import { specFile } from '../support/spec-file.js';
import { requireEngine } from './engine.js';
import { ensurePostgresImage, POSTGRES_START } from './postgres-image.js';

// This file's hosts have their own stack locks, as each host has its own /run (others use stack 'web' too).
const LOCKS = mkdtempSync(join(tmpdir(), 'locks-'));

const engine = engineStatus();
requireEngine(engine);
const BUCKET = 'pg-backups';

describe.runIf(engine.ok)('PostgreSQL backup, drill and restore against a real database', () => {
  const name = `pg${process.pid}-db-1`;
  const volume = `pg${process.pid}_data`;
  let s3: Awaited<ReturnType<typeof startS3>>;
  let awsBin: string;
  let writer: ChildProcess | undefined;
  let writerDone: Promise<unknown> = Promise.resolve();
  // Killing the podman exec client leaves the loop running inside the container (TOOLCHAIN.md):
  // the loop stops itself when this file appears, after its current transaction.
  const stopWriter = async () => {
    await podman('exec', name, 'touch', '/tmp/stop-writer').catch(() => undefined);
    await Promise.race([writerDone, new Promise((r) => setTimeout(r, 30_000))]);
    writer?.kill();
  };
  const psql = (q: string) => podman('exec', name, 'psql', '-U', 'postgres', '-d', 'app', '-Atq', '-c', q);
  const spec = () => {
    const fleet = parseFleet({ fleet: 'demo', stacks: [{ name: 'web', hosts: { tag: { key: 'R', value: 'w' } }, services: [{ name: 'db', container: name }],
      backup: { postgres: [{ name: 'app', container: name, database: 'app', user: 'postgres' }] } }] });
    return specFile({ backup: backupSpecLines(fleet.stacks[0]!.backup!) });
  };
  const hostEnv = (extra: Record<string, string> = {}) => ({
    PATH: `${awsBin}:${SHIM_BIN}:${process.env.PATH}`, HOME: tmpdir(), AWS_SSM_INSTANCE_ID: 'i-0d0d0d0d0d0d0d0d0',
    SHIPSHAPE_STACK: 'web', SHIPSHAPE_LOCK_DIR: LOCKS, SHIPSHAPE_RUN_ID: 'pg', SHIPSHAPE_SPEC_FILE: spec(), SHIPSHAPE_BUCKET: BUCKET, SHIPSHAPE_S3_ENDPOINT: s3.endpoint,
    SHIPSHAPE_HEALTH_WAIT_SECONDS: '30', SHIPSHAPE_STATE_DIR: join(awsBin, 'state'),
    AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_DEFAULT_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true', ...extra,
  });
  /** Every row as "id|batch|md5(payload)", in id order. */
  const rows = async () => (await psql('SELECT id || \'|\' || batch || \'|\' || md5(payload) FROM t ORDER BY id')).split('\n').filter(Boolean);

  beforeAll(async () => {
    const image = await ensurePostgresImage();
    s3 = await startS3([BUCKET]);
    awsBin = mkdtempSync(join(tmpdir(), 'pg-aws-bin-'));
    symlinkSync('/usr/bin/aws', join(awsBin, 'aws'));
    await podman('run', '-d', '--name', name, '--label', `com.docker.compose.project=pg${process.pid}`, '--label', 'com.docker.compose.service=db',
      '-v', `${volume}:/data`, image, ...POSTGRES_START);
    await waitFor(async () => (await podman('exec', name, 'psql', '-U', 'postgres', '-Atqc', 'SELECT 1').catch(() => '')) === '1', 'postgres to accept connections', 60_000);
    await podman('exec', name, 'psql', '-U', 'postgres', '-qc', 'CREATE DATABASE app');
    await psql('CREATE TABLE t (id bigserial PRIMARY KEY, batch int NOT NULL, payload text NOT NULL)');
    // The writer: 100-row transactions, one every 20 ms or so, until the test stops it (back to
    // back, psql and postgres took a core for as long as the file ran).
    writer = spawn('podman', ['exec', name, 'sh', '-c',
      'n=0; while [ ! -e /tmp/stop-writer ]; do n=$((n+1)); psql -U postgres -d app -q -c "INSERT INTO t(batch, payload) SELECT $n, md5(random()::text) || repeat(\'x\', 200) FROM generate_series(1,100)" || exit 1; sleep 0.02; done'],
    { env: podmanEnv(), stdio: 'ignore' });
    writerDone = new Promise((resolve) => writer!.on('close', resolve));
    await waitFor(async () => Number(await psql('SELECT count(*) FROM t')) >= 1000, 'the writer\'s first 10 batches', 60_000);
  }, 600_000);

  afterAll(async () => {
    await stopWriter();
    await podman('rm', '-f', '-t', '0', name).catch(() => undefined);
    await podman('volume', 'rm', '-f', volume).catch(() => undefined);
    await s3?.stop();
    if (awsBin) rmSync(awsBin, { recursive: true, force: true });
  });

  it('dumps with pg_dump -Fc while rows are written, drills the dump, and restores it row for row', async () => {
    // Act 1: the backup, while the writer keeps committing
    const before = Number(await psql('SELECT count(*) FROM t'));
    const backupRun = await runHostScript('backup.sh', hostEnv(), 300_000);
    const backup = BackupResult.parse(backupRun.json);
    const after = Number(await psql('SELECT count(*) FROM t'));
    // Assess 1
    expect(backup.errors, backupRun.stderr).toEqual([]);
    expect(backup.archives).toEqual([expect.objectContaining({ name: 'app', kind: 'postgres', ok: true })]);
    expect(after).toBeGreaterThan(before);
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: backup.manifestKey!.replace('manifest.json', 'verified.json'), Body: '{}' }));

    // Act 2: the drill in scratch space (pg_restore --list of the checked copy)
    const drill = DrillResult.parse((await runHostScript('drill.sh', hostEnv({ SHIPSHAPE_RUN_ID: 'pg-drill' }), 300_000)).json);
    // Assess 2
    expect(drill.errors).toEqual([]);
    expect(drill.archives).toEqual([expect.objectContaining({ name: 'app', kind: 'postgres', ok: true })]);
    expect(drill.archives[0]!.entries).toBeGreaterThan(0);

    // Act 3: stop the writer, remember the live rows, restore
    await stopWriter();
    const live = await rows();
    const restoreRun = await runHostScript('restore.sh', hostEnv({ SHIPSHAPE_RUN_ID: 'pg-restore', SHIPSHAPE_SCRATCH_DIR: awsBin }), 600_000);
    const restore = RestoreResult.parse(restoreRun.json);
    const restored = await rows();
    // Assess 3: row for row, the restored table is the live table as it was at the dump's snapshot
    expect(restore.errors, restoreRun.stderr).toEqual([]);
    expect(restore.ok).toBe(true);
    expect(restored.length).toBeGreaterThan(0);
    expect(restored.length % 100).toBe(0);
    expect(restored.length).toBeGreaterThanOrEqual(before);
    expect(restored.length).toBeLessThan(live.length);
    expect(restored).toEqual(live.slice(0, restored.length));
    process.stderr.write(`containers: PostgreSQL: ${before} rows when the backup began, ${after} when it ended, dump of ${backup.archives[0]!.bytes} bytes holds ${restored.length} rows (whole batches), ${live.length} live rows before the restore; restore ${restore.ok ? 'ok' : 'failed'}\n`);
  }, 900_000);
});
