/**
 * backup.sh against real containers: a SQLite database written to in transactions of 100
 * rows while the backup runs, and containers stopped for the copy that must come back even
 * when the backup step fails.
 */
import { specFile } from '../support/spec-file.js';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFleet } from '../../lib/config/load.js';
import { BackupResult } from '../../lib/results/backup.js';
import { RestoreResult } from '../../lib/results/restore.js';
import { backupSpecLines } from '../../lib/runbooks/backup.js';
import { startS3 } from '../support/aws-local.js';
import { engineStatus, ensureImages, IMAGES_WAIT_MS, podman, PodmanStack, SHIM_BIN, waitFor } from '../support/podman.js';
import { runHostScript } from '../support/run-script.js';
import { closedPort } from '../support/servers.js';
import { requireEngine } from './engine.js';

// This file's hosts have their own stack locks, as each host has its own /run (others use stack 'web' too).
const LOCKS = mkdtempSync(join(tmpdir(), 'locks-'));

const engine = engineStatus();
requireEngine(engine);
const BUCKET = 'container-backups';

describe.runIf(engine.ok)('backup against real containers', () => {
  const stack = new PodmanStack(`bak${process.pid}`);
  let s3: Awaited<ReturnType<typeof startS3>>;
  let awsBin: string;
  let port: number;
  const app = () => stack.containerName('app');
  const proc = () => stack.containerName('sigul');

  beforeAll(async () => {
    const images = await ensureImages();
    s3 = await startS3([BUCKET]);
    awsBin = mkdtempSync(join(tmpdir(), 'aws-bin-'));
    symlinkSync('/usr/bin/aws', join(awsBin, 'aws'));
    port = await closedPort();
    await stack.up([{ service: 'app', image: images.app, port, volume: 'data' }, { service: 'sigul', image: images.proc }]);
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/count`).catch(() => undefined))?.status === 200, 'the writer to create its table');
  }, IMAGES_WAIT_MS);
  afterAll(async () => {
    await stack.down();
    await s3.stop();
    rmSync(awsBin, { recursive: true, force: true });
  });

  const hostEnv = (specPath: string, extra: Record<string, string> = {}) => ({
    PATH: `${awsBin}:${SHIM_BIN}:${process.env.PATH}`, HOME: tmpdir(), AWS_SSM_INSTANCE_ID: 'i-0c0c0c0c0c0c0c0c0',
    SHIPSHAPE_STACK: 'web', SHIPSHAPE_LOCK_DIR: LOCKS, SHIPSHAPE_RUN_ID: 'containers', SHIPSHAPE_SPEC_FILE: specPath, SHIPSHAPE_BUCKET: BUCKET,
    SHIPSHAPE_S3_ENDPOINT: s3.endpoint, SHIPSHAPE_HEALTH_WAIT_SECONDS: '20', SHIPSHAPE_STATE_DIR: join(awsBin, 'state'),
    AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_DEFAULT_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true', ...extra,
  });
  const specOf = (backupConfig: Record<string, unknown>) => {
    const fleet = parseFleet({ fleet: 'demo', stacks: [{ name: 'web', hosts: { tag: { key: 'R', value: 'w' } }, services: [{ name: 'app', container: app() }], backup: backupConfig }] });
    return specFile({ backup: backupSpecLines(fleet.stacks[0]!.backup!) });
  };
  async function backup(backupConfig: Record<string, unknown>) {
    const run = await runHostScript('backup.sh', hostEnv(specOf(backupConfig)), 180_000);
    expect(run.status, run.stderr).toBe(0);
    return BackupResult.parse(run.json);
  }
  const sql = (q: string) => podman('exec', app(), 'sqlite3', '/data/app.db', '.timeout 10000', q);

  it('copies the live database consistently while the writer commits batches of 100 rows', async () => {
    // Act
    const result = await backup({ sqlite: [{ name: 'app-db', container: app(), path: '/data/app.db' }], volumes: [{ name: `${stack.project}_data` }], exclude: ['app.db*'] });
    // Assess
    expect(result.errors).toEqual([]);
    const obj = await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: result.archives[0]!.key }));
    const db = join(mkdtempSync(join(tmpdir(), 'restored-')), 'app.db');
    writeFileSync(db, execFileSync('zstd', ['-dc'], { input: Buffer.from(await obj.Body!.transformToByteArray()), maxBuffer: 1 << 28 }));
    expect(execFileSync('sqlite3', [db, 'PRAGMA integrity_check;'], { encoding: 'utf8' }).trim()).toBe('ok');
    const rows = Number(execFileSync('sqlite3', [db, 'SELECT COUNT(*) FROM t;'], { encoding: 'utf8' }));
    expect(rows).toBeGreaterThan(0);
    expect(rows % 100).toBe(0);
    // The writer kept writing: the live database has moved on.
    const live = Number(await (await fetch(`http://127.0.0.1:${port}/count`)).text());
    expect(live).toBeGreaterThan(rows);
    // The cases below need no load: the writer's loop costs ~8 % of a core for as long as it runs.
    await podman('exec', app(), 'touch', '/tmp/writer.paused');
  });

  it('starts the containers it stopped, in order, even when the backup step fails', async () => {
    // Act: the volume does not exist, so the copy fails while both containers are stopped
    const result = await backup({ volumes: [{ name: 'no-such-volume' }], stop: [proc(), app()], stopTimeoutSeconds: 10 });
    // Assess
    expect(result.complete).toBe(false);
    expect(result.restarts.map((r) => [r.container, r.started, r.state])).toEqual([[proc(), true, 'running'], [app(), true, 'running']]);
    for (const c of [proc(), app()]) expect(await podman('inspect', '--format', '{{.State.Status}}', c)).toBe('running');
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined))?.status === 200, 'the app to answer again');
  }, 180_000);

  it('restores the volume from a backup with its data renamed aside: the service comes back healthy with the restored data', async () => {
    // Prepare: a marker before the backup, a backup with the app stopped, a marker after it
    const config = { volumes: [{ name: `${stack.project}_data` }], stop: [app()], stopTimeoutSeconds: 10 };
    await sql("CREATE TABLE IF NOT EXISTS markers(v TEXT); INSERT INTO markers VALUES ('before');");
    const taken = await backup(config);
    expect(taken.errors).toEqual([]);
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: taken.manifestKey!.replace('manifest.json', 'verified.json'), Body: '{}' }));
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined))?.status === 200, 'the app after the backup');
    await sql("INSERT INTO markers VALUES ('after');");
    // Act
    const run = await runHostScript('restore.sh', hostEnv(specOf(config), { SHIPSHAPE_RUN_ID: 'restore-1' }), 300_000);
    // Assess
    const result = RestoreResult.parse(run.json);
    expect(result.errors).toEqual([]);
    expect(result).toMatchObject({ ok: true, from: taken.prefix, safetyPrefix: null });
    // The volume's _data was renamed aside (O(1)) and, after the success, renamed for removal and
    // removed by a process that outlives the script.
    const mountpoint = await podman('volume', 'inspect', '--format', '{{.Mountpoint}}', `${stack.project}_data`);
    expect(result.sources).toEqual([expect.objectContaining({ name: `${stack.project}_data`, safetyNet: 'rename', aside: null, dropping: `${mountpoint}.shipshape-drop-restore-1`, prepared: 'beside' })]);
    await waitFor(async () => readdirSync(dirname(mountpoint)).filter((f) => f.includes('shipshape-')).length === 0, 'the copy set aside to be removed');
    expect(run.stderr).toContain(`${mountpoint} set aside as ${mountpoint}.shipshape-before-restore-1 (renamed)`);
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined))?.status === 200, 'the app after the restore');
    expect(await sql('SELECT group_concat(v) FROM markers;')).toBe('before');
    expect(await sql('PRAGMA integrity_check;')).toBe('ok');
  }, 300_000);
});
