/**
 * apply-secret.sh against a real container: the env file, bind-mounted into the container as
 * compose does with a volume entry, is replaced atomically (a new inode), the container is
 * restarted, and the new value is what the container sees afterwards. Nothing printed holds it.
 */
import { specFile } from '../support/spec-file.js';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFleet } from '../../lib/config/load.js';
import { secretsSpecLines } from '../../lib/runbooks/secrets.js';
import { engineStatus, ensureImages, IMAGES_WAIT_MS, podman, PodmanStack, SHIM_BIN } from '../support/podman.js';
import { runHostScript } from '../support/run-script.js';
import { requireEngine } from './engine.js';

// This file's hosts have their own stack locks, as each host has its own /run (others use stack 'web' too).
const LOCKS = mkdtempSync(join(tmpdir(), 'locks-'));

const engine = engineStatus();
requireEngine(engine);
const OLD = 'f00d'.repeat(16);
const NEW = 'beef'.repeat(16);

describe.runIf(engine.ok)('secret apply against a real container', () => {
  const stack = new PodmanStack(`sec${process.pid}`);
  const dir = mkdtempSync(join(tmpdir(), 'secret-containers-'));
  const envFile = join(dir, 'app', '.env.production');
  const container = () => stack.containerName('app');

  beforeAll(async () => {
    const images = await ensureImages();
    mkdirSync(join(dir, 'app'));
    writeFileSync(envFile, `NODE_ENV=production\nJWT_SECRET=${OLD}\n`, { mode: 0o600 });
    chmodSync(envFile, 0o644); // the container's user reads it
    mkdirSync(join(dir, 'stages'));
    writeFileSync(join(dir, 'stages', 'AWSPENDING'), `${NEW}\n`);
    mkdirSync(join(dir, 'bin'));
    writeFileSync(join(dir, 'bin', 'aws'), `#!/bin/sh\nstage=""\nwhile [ $# -gt 0 ]; do case "$1" in --version-stage) stage=$2; shift;; esac; shift; done\ncat "${join(dir, 'stages')}/$stage"\n`, { mode: 0o755 });
    await stack.up([{ service: 'app', image: images.proc, binds: [`${envFile}:/app/.env.production:ro`] }]);
  }, IMAGES_WAIT_MS);
  afterAll(async () => {
    await stack.down();
    rmSync(dir, { recursive: true, force: true });
  });

  it('replaces the file, restarts the container, and the container sees the new value', async () => {
    // Prepare
    const fleet = parseFleet({ fleet: 'demo', stacks: [{ name: 'web', hosts: { tag: { key: 'R', value: 'w' } }, services: [{ name: 'app', container: container() }],
      secrets: [{ name: 'jwt', envFile, variable: 'JWT_SECRET', previousVariable: 'JWT_SECRET_PREVIOUS', mode: '0644', restart: ['app'] }] }] });
    const startedBefore = await podman('inspect', '-f', '{{.State.StartedAt}}', container());
    expect(await podman('exec', container(), 'cat', '/app/.env.production')).toContain(`JWT_SECRET=${OLD}`);
    // Act
    const run = await runHostScript('apply-secret.sh', {
      PATH: `${join(dir, 'bin')}:${SHIM_BIN}:${process.env.PATH}`, HOME: tmpdir(), SHIPSHAPE_STACK: 'web', SHIPSHAPE_LOCK_DIR: LOCKS, SHIPSHAPE_RUN_ID: 'containers',
      SHIPSHAPE_SECRET: 'jwt', SHIPSHAPE_STAGE: 'AWSPENDING', SHIPSHAPE_SPEC_FILE: specFile({ secrets: secretsSpecLines(fleet, fleet.stacks[0]!) }), SHIPSHAPE_HEALTH_WAIT_SECONDS: '30',
    }, 120_000);
    // Assess
    expect(run.status, run.stderr).toBe(0);
    expect(run.json).toMatchObject({ changed: true, errors: [], restarts: [{ container: container(), ok: true }] });
    const inside = await podman('exec', container(), 'cat', '/app/.env.production');
    expect(inside).toContain(`JWT_SECRET=${NEW}`);
    expect(inside).toContain(`JWT_SECRET_PREVIOUS=${OLD}`);
    expect(await podman('inspect', '-f', '{{.State.StartedAt}}', container())).not.toBe(startedBefore);
    for (const v of [OLD, NEW]) expect(`${run.stdout}\n${run.stderr}`).not.toContain(v);
  });
});
