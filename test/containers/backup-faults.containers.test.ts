/**
 * Backups and restores that never lie (issue 11), against real containers (podman behind a
 * `docker` shim), the real AWS CLI and s3rver:
 *   - a sustained writer: five snapshots in a row, each restorable, integrity_check ok, whole
 *     transactions only;
 *   - a full temporary directory: no manifest, and a reason;
 *   - an archive swapped in S3 during a restore: the verified bytes are restored;
 *   - a service unhealthy after a restore: the volume's data, prepared beside and swapped in, is renamed back;
 *   - a SIGTERM-ignoring container on the stop list next to one already stopped.
 */
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFleet } from '../../lib/config/load.js';
import { BackupResult } from '../../lib/results/backup.js';
import { RestoreResult } from '../../lib/results/restore.js';
import { backupSpecLines } from '../../lib/runbooks/backup.js';
import { startS3 } from '../support/aws-local.js';
import { engineStatus, ensureImages, podman, podmanEnv, PodmanStack, SHIM_BIN, waitFor } from '../support/podman.js';
import { runHostScript } from '../support/run-script.js';
import { closedPort } from '../support/servers.js';
import { specFile } from '../support/spec-file.js';
import { requireEngine } from './engine.js';

const engine = engineStatus();
requireEngine(engine);
const BUCKET = 'container-faults';

describe.runIf(engine.ok)('backups and restores under faults, against real containers', () => {
  const stack = new PodmanStack(`flt${process.pid}`);
  let s3: Awaited<ReturnType<typeof startS3>>;
  let awsBin: string;
  let work: string;
  let port: number;
  let instance = 0;
  const app = () => stack.containerName('app');
  const web = () => stack.containerName('web');
  const volume = (key: string) => `${stack.project}_${key}`;

  beforeAll(async () => {
    const images = await ensureImages();
    s3 = await startS3([BUCKET]);
    work = mkdtempSync(join(tmpdir(), 'container-faults-'));
    awsBin = join(work, 'aws-bin');
    mkdirSync(awsBin);
    symlinkSync('/usr/bin/aws', join(awsBin, 'aws'));
    port = await closedPort();
    await stack.up([
      // The writer commits 100-row transactions back to back.
      { service: 'app', image: images.app, port, volume: 'data', env: { WRITER_SLEEP: '0' } },
      { service: 'web', image: images.app, volume: 'site', healthCmd: 'test ! -f /data/unhealthy', env: { WRITER_SLEEP: '1' } },
      // PID 1 is a shell without a TERM trap: it ignores SIGTERM.
      { service: 'stubborn', image: images.proc, command: ['sh', '-c', 'while :; do sleep 1; done'] },
      { service: 'parked', image: images.proc },
    ]);
    await podman('stop', '-t', '0', stack.containerName('parked'));
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/count`).catch(() => undefined))?.status === 200, 'the writer to create its table');
    // Some volume before the writes: 100,000 rows.
    await podman('exec', app(), 'sqlite3', '/data/app.db', '.timeout 20000',
      'WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 100000) INSERT INTO t(batch, payload) SELECT 0, hex(randomblob(64)) FROM s;');
  }, 300_000);
  afterAll(async () => {
    await stack.down();
    await s3?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const env = (backupConfig: Record<string, unknown>, extra: Record<string, string> = {}) => {
    const fleet = parseFleet({ fleet: 'demo', stacks: [{ name: 'web', hosts: { tag: { key: 'R', value: 'w' } }, services: [{ name: 'app', container: app() }], backup: backupConfig }] });
    return {
      PATH: `${awsBin}:${SHIM_BIN}:${process.env.PATH}`, HOME: tmpdir(), AWS_SSM_INSTANCE_ID: `i-0c0c0c0c0c0c0c0${String(++instance).padStart(2, '0')}`,
      SHIPSHAPE_STACK: 'web', SHIPSHAPE_RUN_ID: `containers-${instance}`, SHIPSHAPE_SPEC_FILE: specFile({ backup: backupSpecLines(fleet.stacks[0]!.backup!) }),
      SHIPSHAPE_BUCKET: BUCKET, SHIPSHAPE_S3_ENDPOINT: s3.endpoint, SHIPSHAPE_HEALTH_WAIT_SECONDS: '20', SHIPSHAPE_SCRATCH_DIR: work, SHIPSHAPE_LOCK_DIR: join(work, 'locks'), SHIPSHAPE_STATE_DIR: join(work, 'state'),
      AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_DEFAULT_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true', CONTAINERS_CONF: podmanEnv().CONTAINERS_CONF!, ...extra,
    };
  };
  async function backup(e: Record<string, string>) {
    const run = await runHostScript('backup.sh', e, 240_000);
    expect(run.status, run.stderr).toBe(0);
    return BackupResult.parse(run.json);
  }
  const object = async (key: string) => Buffer.from(await (await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body!.transformToByteArray());
  const keys = async (prefix: string) => ((await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }))).Contents ?? []).map((c) => c.Key!);
  const sqlite = (db: string, q: string) => execFileSync('sqlite3', [db, q], { encoding: 'utf8' }).trim();
  const inContainer = (c: string, ...args: string[]) => podman('exec', c, ...args);
  const state = (c: string) => podman('inspect', '--format', '{{.State.Status}}', c);

  it('snapshots a database under a sustained writer five times in a row, each restorable with whole transactions only', async () => {
    // Prepare
    const e = env({ sqlite: [{ name: 'app-db', container: app(), path: '/data/app.db' }] });
    let previous = 0;
    for (let i = 0; i < 5; i++) {
      // Act
      const result = await backup(e);
      // Assess
      expect(result.errors).toEqual([]);
      expect(result.complete).toBe(true);
      expect(result.archives[0]).toMatchObject({ method: 'sqlite3 VACUUM INTO (host)', integrity: 'ok' });
      const db = join(work, `snapshot-${i}.db`);
      writeFileSync(db, execFileSync('zstd', ['-dc'], { input: await object(result.archives[0]!.key), maxBuffer: 1 << 30 }));
      expect(sqlite(db, 'PRAGMA integrity_check;')).toBe('ok');
      const rows = Number(sqlite(db, 'SELECT COUNT(*) FROM t WHERE batch > 0;'));
      expect(rows % 100).toBe(0);
      expect(rows).toBeGreaterThan(previous);
      previous = rows;
      rmSync(db);
    }
    // The writer never stopped.
    const live = Number(await (await fetch(`http://127.0.0.1:${port}/count`)).text());
    expect(live).toBeGreaterThan(previous);
  }, 600_000);

  it('runs sqlite3 inside the container when asked, with its time limit enforced there: nothing is left running', async () => {
    // Act: a time limit far too short for VACUUM INTO of this database under load
    const result = await backup(env({ sqlite: [{ name: 'app-db', container: app(), path: '/data/app.db', runIn: 'container' }] }, { SHIPSHAPE_SQLITE_TIMEOUT_SECONDS: '1', SHIPSHAPE_SQLITE_BUSY_MS: '100' }));
    // Assess
    if (!result.complete) expect(result.errors[0]).toMatch(/app-db: VACUUM INTO in .* failed: (timed out after 1 s|database locked)/);
    await waitFor(async () => !(await inContainer(app(), 'pgrep', '-f', 'VACUUM INTO').then(() => true, () => false)), 'no sqlite3 left in the container', 10_000);
    expect(await inContainer(app(), 'sh', '-c', 'ls /tmp | grep -c shipshape-snapshot || true')).toBe('0');
    // The cases below need no load: the back-to-back writer would keep a core busy until the end.
    await inContainer(app(), 'touch', '/tmp/writer.paused');
  }, 300_000);

  it('fails when the temporary directory is full, says so, and writes no manifest', async () => {
    // Prepare: TMPDIR on a full 64 KiB tmpfs
    const full = join(work, 'full');
    mkdirSync(full);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', full]);
    try {
      execFileSync('sh', ['-c', `dd if=/dev/zero of="${full}/fill" bs=4k 2>/dev/null || true`]);
      // Act
      const result = await backup(env({ sqlite: [{ name: 'app-db', container: app(), path: '/data/app.db' }] }, { TMPDIR: full }));
      // Assess
      expect(result.complete).toBe(false);
      expect(result.errors.join('\n')).toMatch(/disk full|temporary directory/);
      expect(await keys(`${result.prefix}/`)).not.toContain(`${result.prefix}/manifest.json`);
      expect(await state(app())).toBe('running');
    } finally {
      execFileSync('umount', ['-l', full]);
    }
  }, 300_000);

  it('restores the verified bytes when the archive is swapped in S3 during the restore', async () => {
    // Prepare: a verified backup of the site volume, then a change on the host
    const config = { volumes: [{ name: volume('site') }], exclude: ['app.db*'] };
    await inContainer(web(), 'sh', '-c', 'echo original > /data/page.html');
    const taken = await backup(env(config));
    expect(taken.errors).toEqual([]);
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: taken.manifestKey!.replace('manifest.json', 'verified.json'), Body: '{}' }));
    await inContainer(web(), 'sh', '-c', 'echo changed > /data/page.html');
    // An AWS CLI (the transport this case picks) that replaces the archive right after the restore downloaded it.
    const archive = taken.archives[0]!.key;
    const swapBin = join(work, 'swap-bin');
    mkdirSync(swapBin, { recursive: true });
    writeFileSync(join(swapBin, 'aws'), `#!/bin/bash
/usr/bin/aws "$@"; rc=$?
if [[ "$*" == *"s3 cp s3://${BUCKET}/${archive} -"* ]]; then printf 'swapped' | /usr/bin/aws "\${@:1:2}" s3 cp - "s3://${BUCKET}/${archive}" >&2; fi
exit $rc
`, { mode: 0o755 });
    const health = spawn('sh', ['-c', `while :; do podman healthcheck run ${web()} >/dev/null 2>&1; sleep 1; done`], { env: podmanEnv(), stdio: 'ignore' });
    try {
      // Act
      // The CLI transport: the swapping wrapper is an AWS CLI.
      const run = await runHostScript('restore.sh', { ...env(config), AWS_SSM_INSTANCE_ID: taken.host, PATH: `${swapBin}:${SHIM_BIN}:${process.env.PATH}`, SHIPSHAPE_RUN_ID: 'restore-swap', SHIPSHAPE_S3_TRANSPORT: 'cli' }, 300_000);
      // Assess
      const result = RestoreResult.parse(run.json);
      expect(result.errors, run.stderr).toEqual([]);
      expect(result.ok).toBe(true);
      expect((await object(archive)).toString()).toBe('swapped');
      expect(await inContainer(web(), 'cat', '/data/page.html')).toBe('original');
    } finally {
      health.kill();
    }
  }, 400_000);

  it('renames the data from before the restore back when the service is unhealthy after the restore', async () => {
    // Prepare: a verified backup taken while the site held the marker that makes it unhealthy
    const config = { volumes: [{ name: volume('site') }], exclude: ['app.db*'] };
    await inContainer(web(), 'sh', '-c', 'echo bad > /data/page.html && touch /data/unhealthy');
    const taken = await backup(env(config));
    expect(taken.errors).toEqual([]);
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: taken.manifestKey!.replace('manifest.json', 'verified.json'), Body: '{}' }));
    await inContainer(web(), 'sh', '-c', 'echo good > /data/page.html && rm /data/unhealthy');
    const health = spawn('sh', ['-c', `while :; do podman healthcheck run ${web()} >/dev/null 2>&1; sleep 1; done`], { env: podmanEnv(), stdio: 'ignore' });
    try {
      // Act
      const run = await runHostScript('restore.sh', { ...env(config), AWS_SSM_INSTANCE_ID: taken.host, SHIPSHAPE_RUN_ID: 'restore-unhealthy', SHIPSHAPE_HEALTH_WAIT_SECONDS: '8' }, 400_000);
      // Assess
      const result = RestoreResult.parse(run.json);
      expect(result.ok).toBe(false);
      expect(result.errors[0]).toMatch(/container .*web-1 runs but is unhealthy/);
      expect(result.rolledBack).toBe(true);
      // The volume's _data was renamed aside, then renamed back: nothing left beside it.
      expect(result.sources).toEqual([expect.objectContaining({ name: volume('site'), ok: false, safetyNet: 'rename', aside: null, prepared: 'beside' })]);
      expect(result.safetyPrefix).toBeNull();
      const mountpoint = await podman('volume', 'inspect', '--format', '{{.Mountpoint}}', volume('site'));
      expect(readdirSync(dirname(mountpoint)).filter((f) => f.includes('shipshape-'))).toEqual([]);
      expect(await inContainer(web(), 'cat', '/data/page.html')).toBe('good');
      expect(await state(web())).toBe('running');
    } finally {
      health.kill();
    }
  }, 400_000);

  it('kills a SIGTERM-ignoring container after stopTimeoutSeconds and reports it, and leaves a stopped one stopped', async () => {
    // Act
    const stubborn = stack.containerName('stubborn');
    const parked = stack.containerName('parked');
    const result = await backup(env({ volumes: [{ name: volume('site') }], exclude: ['app.db*'], stop: [stubborn, parked], stopTimeoutSeconds: 2 }));
    // Assess
    expect(result.errors).toEqual([]);
    expect(result.complete).toBe(true);
    expect(result.restarts).toEqual([expect.objectContaining({ container: stubborn, started: true, state: 'running', killed: true })]);
    expect(result.leftStopped).toEqual([parked]);
    expect(await state(parked)).toBe('exited');
    expect(await state(stubborn)).toBe('running');
  }, 300_000);
});
