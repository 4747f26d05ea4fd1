/**
 * Compose as it really is: a project brought up by the real docker-compose (Debian's v1, 1.29.2)
 * driving podman through `podman system service` (a Docker-API socket), so every label, name and
 * volume is exactly what compose made. Against it, the host scripts as the documents run them:
 *   - names: compose services (one scaled to 2), a volume key and the working dir resolve through
 *     compose's labels; the health check reports every container of the scaled service;
 *   - secrets: an env_file: secret is applied by recreating the service through docker-compose,
 *     and verified by hash in the recreated container's environment;
 *   - a crash loop (restart: always, exits after 2 s) is counted between two health checks;
 *   - the host's sqlite3 checks and snapshots a live WAL database in the named volume while the
 *     app writes 100-row transactions;
 *   - the preflight finds everything.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateHealth } from '../../lambdas/result/evaluate-health.js';
import { parseFleet } from '../../lib/config/load.js';
import type { Fleet } from '../../lib/config/schema.js';
import { HealthResult } from '../../lib/results/health.js';
import { IntegrityResult } from '../../lib/results/integrity.js';
import { PreflightResult } from '../../lib/results/preflight.js';
import { backupSpecLines } from '../../lib/runbooks/backup.js';
import { composeSpecLines } from '../../lib/runbooks/compose.js';
import { healthCheckSpecLines } from '../../lib/runbooks/health-check.js';
import { integritySpecLines } from '../../lib/runbooks/integrity.js';
import { secretsSpecLines } from '../../lib/runbooks/secrets.js';
import { engineStatus, ensureImages, podman, podmanEnv, SHIM_BIN, waitFor } from '../support/podman.js';
import { hostScript, runHostScript } from '../support/run-script.js';
import { specFile } from '../support/spec-file.js';
import { requireEngine } from './engine.js';

// This file's hosts have their own stack locks, as each host has its own /run (others use stack 'web' too).
const LOCKS = mkdtempSync(join(tmpdir(), 'locks-'));

const engine = engineStatus();
requireEngine(engine);
const hasCompose = spawnSync('sh', ['-c', 'command -v docker-compose']).status === 0;
const OLD = 'c0ffee'.repeat(8);
const NEW = 'decade'.repeat(8);

describe.runIf(engine.ok)('compose as it really is (docker-compose v1 on podman\'s Docker API)', () => {
  const project = `shipc${process.pid}`;
  const work = mkdtempSync(join(tmpdir(), 'compose-containers-'));
  const dir = join(work, project);
  const sock = join(work, 'podman.sock');
  const state = join(work, 'state');
  let service: ChildProcess | undefined;
  let fleet: Fleet;
  let env: Record<string, string>;

  const compose = (...args: string[]) => spawnSync('docker-compose', ['-p', project, ...args], { cwd: dir, env: { ...podmanEnv(), DOCKER_HOST: `unix://${sock}` }, encoding: 'utf8', timeout: 180_000 });
  const spec = () => {
    const stack = fleet.stacks[0]!;
    return specFile({ compose: composeSpecLines(stack), 'health-check': healthCheckSpecLines(fleet, stack), backup: backupSpecLines(stack.backup!), integrity: integritySpecLines(stack, stack.integrity!), secrets: secretsSpecLines(fleet, stack) });
  };

  beforeAll(async () => {
    if (!hasCompose) throw new Error('docker-compose is not installed (apt-get install docker-compose)');
    const images = await ensureImages();
    mkdirSync(dir);
    mkdirSync(join(work, 'stages'));
    mkdirSync(join(work, 'bin'));
    writeFileSync(join(dir, '.env.app'), `APP_MODE=test\nJWT_SECRET=${OLD}\n`, { mode: 0o600 });
    writeFileSync(join(work, 'stages', 'AWSPENDING'), `${NEW}\n`);
    writeFileSync(join(work, 'bin', 'aws'), `#!/bin/sh\nstage=""\nwhile [ $# -gt 0 ]; do case "$1" in --version-stage) stage=$2; shift;; --version) echo "aws-cli/2.24.0 Python/3.12"; exit 0;; s3api) exit 0;; esac; shift; done\ncat "${join(work, 'stages')}/$stage"\n`, { mode: 0o755 });
    writeFileSync(join(dir, 'docker-compose.yml'), [
      'version: "3.7"',
      'services:',
      '  app:',
      `    image: ${images.proc}`,
      '    env_file: .env.app',
      '  worker:',
      `    image: ${images.proc}`,
      '  db:',
      `    image: ${images.app}`,
      '    environment: { BATCH: "100", WRITER_SLEEP: "0.05" }',
      '    volumes: ["data:/data"]',
      '  crash:',
      `    image: ${images.proc}`,
      '    command: ["sh", "-c", "sleep 2; exit 3"]',
      '    restart: always',
      'volumes:',
      '  data: {}',
      '',
    ].join('\n'));
    service = spawn('podman', ['system', 'service', '--time=0', `unix://${sock}`], { env: podmanEnv(), stdio: 'ignore' });
    await waitFor(async () => spawnSync('test', ['-S', sock]).status === 0, 'the podman API socket');
    const up = compose('up', '-d', '--scale', 'worker=2');
    if (up.status !== 0) throw new Error(`docker-compose up failed: ${up.stderr}`);
    fleet = parseFleet({ fleet: 'demo', stacks: [{ name: 'web', hosts: { tag: { key: 'R', value: 'w' } }, composeDir: dir,
      services: [{ name: 'app' }, { name: 'worker' }, { name: 'db' }, { name: 'crash', critical: false }],
      backup: { volumes: [{ name: 'data' }], sqlite: [{ name: 'app-db', container: 'db', path: '/data/app.db' }] },
      integrity: { sqlite: [{ name: 'app-db', container: 'db', path: '/data/app.db' }] },
      secrets: [{ name: 'jwt', envFile: join(dir, '.env.app'), variable: 'JWT_SECRET', restart: ['app'] }] }] });
    env = { PATH: `${join(work, 'bin')}:${SHIM_BIN}:${process.env.PATH}`, HOME: work, DOCKER_HOST: `unix://${sock}`, SHIPSHAPE_STATE_DIR: state, SHIPSHAPE_STACK: 'web', SHIPSHAPE_LOCK_DIR: LOCKS, SHIPSHAPE_RUN_ID: 'compose', SHIPSHAPE_REGION: 'eu-central-1', SHIPSHAPE_BUCKET: 'b', SHIPSHAPE_CPU_SAMPLE_SECONDS: '0' };
    // The writer has committed a few batches before anything reads the database; it then pauses
    // until the one test that reads under writes (its loop costs ~8 % of a core while it runs).
    await waitFor(async () => (await podman('exec', `${project}_db_1`, 'sqlite3', '/data/app.db', 'SELECT count(*) FROM t')).trim() !== '0', 'the first rows', 30_000).catch(() => undefined);
    await podman('exec', `${project}_db_1`, 'touch', '/tmp/writer.paused');
  }, 600_000);

  afterAll(() => {
    compose('down', '-v', '-t', '0');
    // A crash-looping container that compose's down caught between restarts survives it and keeps
    // restarting every 2 s for good, loading the machine: removed by label whatever down did.
    const left = spawnSync('podman', ['ps', '-aq', '--filter', `label=com.docker.compose.project=${project}`], { env: podmanEnv(), encoding: 'utf8' }).stdout.trim();
    if (left) spawnSync('podman', ['rm', '-f', '-t', '0', ...left.split('\n')], { env: podmanEnv() });
    service?.kill();
    rmSync(work, { recursive: true, force: true });
  });

  it('finds compose\'s containers, scaled service, volume and working dir through the labels it set', async () => {
    // Act
    const sh = (fn: string, ...args: string[]) => spawnSync('bash', ['-c', `. "${hostScript('lib/common.sh')}"; . "${hostScript('lib/compose.sh')}"; ${fn} "$@"`, 'x', ...args], { env, encoding: 'utf8' }).stdout.trim();
    const labels = JSON.parse(await podman('inspect', '-f', '{{json .Config.Labels}}', `${project}_worker_2`));
    const health = await runHostScript('health-check.sh', { ...env, SHIPSHAPE_SPEC_FILE: spec() }, 120_000);
    // Assess: what compose v1 sets, measured
    expect(labels).toMatchObject({ 'com.docker.compose.project': project, 'com.docker.compose.service': 'worker', 'com.docker.compose.container-number': '2', 'com.docker.compose.oneoff': 'False',
      'com.docker.compose.project.working_dir': dir, 'com.docker.compose.project.config_files': 'docker-compose.yml' });
    expect(sh('compose_project_name', dir)).toBe(project);
    expect(sh('compose_containers', project, 'worker').split('\n')).toEqual([`${project}_worker_1`, `${project}_worker_2`]);
    expect(sh('compose_volume', project, 'data')).toBe(`${project}_data`);
    expect(sh('compose_workdir', project)).toBe(dir);
    const result = HealthResult.parse(health.json);
    expect(result.containers.map((c) => [c.service, c.container, c.exists])).toEqual([
      ['app', `${project}_app_1`, true], ['worker', `${project}_worker_1`, true], ['worker', `${project}_worker_2`, true], ['db', `${project}_db_1`, true], ['crash', `${project}_crash_1`, true],
    ]);
  });

  it('applies an env_file: secret by recreating the service through docker-compose, verified by hash in the new container', async () => {
    // Prepare
    const idBefore = await podman('inspect', '-f', '{{.Id}}', `${project}_app_1`);
    // Act
    const run = await runHostScript('apply-secret.sh', { ...env, SHIPSHAPE_SECRET: 'jwt', SHIPSHAPE_STAGE: 'AWSPENDING', SHIPSHAPE_SPEC_FILE: spec(), SHIPSHAPE_HEALTH_WAIT_SECONDS: '60' }, 240_000);
    const again = await runHostScript('apply-secret.sh', { ...env, SHIPSHAPE_SECRET: 'jwt', SHIPSHAPE_STAGE: 'AWSPENDING', SHIPSHAPE_SPEC_FILE: spec(), SHIPSHAPE_HEALTH_WAIT_SECONDS: '60' }, 240_000);
    // Assess
    expect(run.json, run.stderr).toMatchObject({ changed: true, delivery: 'recreate', verified: true, errors: [],
      restarts: [{ service: 'app', action: 'recreate', ok: true }], containers: [{ container: `${project}_app_1`, delivery: 'recreate', matches: true }] });
    expect(await podman('inspect', '-f', '{{.Id}}', `${project}_app_1`)).not.toBe(idBefore);
    expect(await podman('inspect', '-f', '{{range .Config.Env}}{{.}} {{end}}', `${project}_app_1`)).toContain(`JWT_SECRET=${NEW}`);
    expect(again.json).toMatchObject({ changed: false, restarts: [], verified: true });
    for (const v of [OLD, NEW]) expect(`${run.stdout}${run.stderr}${again.stdout}${again.stderr}`).not.toContain(v);
  });

  it('counts the restarts of a crash-looping container between two health checks', async () => {
    // Act: two checks some crashes apart (the service exits 3 after 2 s and compose says restart: always)
    const first = HealthResult.parse((await runHostScript('health-check.sh', { ...env, SHIPSHAPE_SPEC_FILE: spec() }, 120_000)).json);
    await new Promise((r) => setTimeout(r, 9_000));
    const second = HealthResult.parse((await runHostScript('health-check.sh', { ...env, SHIPSHAPE_SPEC_FILE: spec() }, 120_000)).json);
    // Assess
    const crash = second.containers.find((c) => c.service === 'crash')!;
    expect(crash.restartsSincePreviousCheck).toBeGreaterThanOrEqual(1);
    expect(crash.restartCount).toBeGreaterThan(first.containers.find((c) => c.service === 'crash')!.restartCount!);
    const finding = evaluateHealth(second, fleet, fleet.stacks[0]!).find((f) => f.check === 'container.restarts' && f.target.startsWith('crash'))!;
    expect(['warning', 'critical']).toContain(finding.severity);
    expect(evaluateHealth(second, fleet, fleet.stacks[0]!).find((f) => f.check === 'container.restarts' && f.target.startsWith('app'))!.severity).toBe('ok');
    process.stderr.write(`containers: crash loop measured: ${crash.restartsSincePreviousCheck} restarts in ~9 s, RestartCount ${crash.restartCount}, state ${crash.state}, last exit code ${crash.lastExitCode}\n`);
  });

  it('checks and snapshots the live WAL database in the named volume with the host\'s sqlite3 while the app writes', async () => {
    // Prepare: the writer writes again
    const rows = async () => Number(await podman('exec', `${project}_db_1`, 'sqlite3', '-cmd', '.timeout 5000', '/data/app.db', 'SELECT count(*) FROM t'));
    const before = await rows();
    await podman('exec', `${project}_db_1`, 'rm', '-f', '/tmp/writer.paused');
    await waitFor(async () => (await rows()) > before, 'the writer to write again', 30_000);
    // Act: integrity_check through the mount, then three snapshots (VACUUM INTO) from the host
    const integrity = IntegrityResult.parse((await runHostScript('integrity.sh', { ...env, SHIPSHAPE_SPEC_FILE: spec() }, 120_000)).json);
    const snapshots: { ok: boolean; rows: number; ms: number; reason: string }[] = [];
    for (let i = 0; i < 3; i++) {
      const dest = join(work, `snap-${i}.db`);
      const t0 = Date.now();
      const r = spawnSync('bash', ['-c', `. "${hostScript('lib/common.sh')}"; . "${hostScript('lib/backups.sh')}"; . "${hostScript('lib/sqlite.sh')}"; sqlite_snapshot host "$1" /data/app.db "$2"`, 'x', `${project}_db_1`, dest], { env, encoding: 'utf8' });
      const rows = r.status === 0 ? Number(spawnSync('sqlite3', [dest, 'SELECT count(*) FROM t'], { encoding: 'utf8' }).stdout.trim()) : -1;
      snapshots.push({ ok: r.status === 0, rows, ms: Date.now() - t0, reason: r.stdout });
    }
    const journal = (await podman('exec', `${project}_db_1`, 'sqlite3', '-cmd', '.timeout 5000', '/data/app.db', 'PRAGMA journal_mode')).trim();
    // Assess
    expect(journal).toBe('wal');
    expect(integrity.checks.filter((c) => c.kind === 'sqlite')).toEqual([expect.objectContaining({ name: 'app-db', ok: true, detail: 'integrity_check ok' })]);
    expect(snapshots.map((s) => s.ok)).toEqual([true, true, true]);
    // Whole transactions only: every copy holds a multiple of the writer's 100-row batches.
    for (const s of snapshots) expect(s.rows % 100).toBe(0);
    expect(snapshots[2]!.rows).toBeGreaterThan(0);
    process.stderr.write(`containers: host-side snapshots under writes: ${snapshots.map((s) => `${s.rows} rows in ${s.ms} ms`).join(', ')}\n`);
    await podman('exec', `${project}_db_1`, 'touch', '/tmp/writer.paused');
  });

  it('passes the preflight: every name, the volume, the database file, the secret\'s delivery', async () => {
    // Act
    const result = PreflightResult.parse((await runHostScript('preflight.sh', { ...env, SHIPSHAPE_SPEC_FILE: spec() }, 120_000)).json);
    // Assess
    expect(result.checks.filter((c) => !c.ok && c.required)).toEqual([]);
    expect(result.checks.find((c) => c.check === 'name.volume')!.detail).toBe(`volume ${project}_data`);
    expect(result.checks.find((c) => c.check === 'file.database')!.detail).toContain('/var/lib/containers/storage/volumes/');
    expect(result.checks.find((c) => c.check === 'secret.delivery')!.detail).toMatch(/^recreate \(env file\) with docker-compose, service app/);
    expect(readFileSync(join(dir, '.env.app'), 'utf8')).toContain('APP_MODE=test');
  });
});
