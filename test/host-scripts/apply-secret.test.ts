/**
 * apply-secret.sh for real: a fake AWS CLI serves secret versions from files, the env file is
 * replaced atomically, services restart in order, bad values are refused, and the value never
 * appears in anything the script prints.
 */
import { specFile } from '../support/spec-file.js';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseFleet } from '../../lib/config/load.js';
import { secretsSpecLines } from '../../lib/runbooks/secrets.js';
import * as z from 'zod';
import { FakeHost, running } from '../support/fake-host.js';
import { runHostScript } from '../support/run-script.js';

const ApplyResult = z.object({ schema: z.literal('shipshape.apply-secret/1'), secret: z.string(), stage: z.string(), file: z.string().nullable(), changed: z.boolean(),
  restarts: z.array(z.object({ container: z.string(), ok: z.boolean() })), errors: z.array(z.string()) });

let host: FakeHost;
afterEach(() => host?.dispose());

const OLD = 'a'.repeat(64);
const NEW = 'b1c2'.repeat(16);

function prepare(target: 'env' | 'file' = 'env') {
  host = new FakeHost({ 'web-api-1': running(), 'web-worker-1': running(), 'web-db-1': running() });
  const app = join(host.dir, 'app');
  mkdirSync(app);
  const envFile = join(app, '.env.production');
  writeFileSync(envFile, `NODE_ENV=production\nJWT_SECRET=${OLD}\nOTHER=keep\n`);
  const keyFile = join(app, 'jwt_secret.key');
  writeFileSync(keyFile, `${OLD}\n`, { mode: 0o640 });
  chmodSync(envFile, 0o640);
  const secrets = join(host.dir, 'secrets');
  mkdirSync(secrets);
  writeFileSync(join(secrets, 'AWSCURRENT'), `${OLD}\n`);
  writeFileSync(join(secrets, 'AWSPENDING'), `${NEW}\n`);
  const bin = mkdtempSync(join(tmpdir(), 'fake-aws-'));
  writeFileSync(join(bin, 'aws'), '#!/bin/sh\nstage=""\nwhile [ $# -gt 0 ]; do case "$1" in --version-stage) stage=$2; shift;; esac; shift; done\ncat "$FAKE_SECRETS/$stage" 2>/dev/null || { echo "An error occurred (ResourceNotFoundException): no version with stage $stage" >&2; exit 254; }\n', { mode: 0o755 });
  const fleet = parseFleet({ fleet: 'demo', stacks: [{ name: 'web', hosts: { tag: { key: 'R', value: 'w' } },
    services: [{ name: 'api', container: 'web-api-1' }, { name: 'worker', container: 'web-worker-1' }, { name: 'db', container: 'web-db-1' }],
    secrets: [target === 'env'
      ? { name: 'jwt', envFile, variable: 'JWT_SECRET', previousVariable: 'JWT_SECRET_PREVIOUS', restart: ['worker', 'api'] }
      : { name: 'jwt', file: keyFile, previousFile: `${keyFile}.previous`, restart: ['api'] }] }] });
  const env = (stage: string) => host.env({ PATH: `${bin}:${host.env().PATH}`, FAKE_SECRETS: secrets, SHIPSHAPE_STACK: 'web', SHIPSHAPE_RUN_ID: 'rot', SHIPSHAPE_SECRET: 'jwt', SHIPSHAPE_STAGE: stage,
    SHIPSHAPE_SPEC_FILE: specFile({ secrets: secretsSpecLines(fleet, fleet.stacks[0]!) }), SHIPSHAPE_HEALTH_WAIT_SECONDS: '2' });
  return { envFile, keyFile, secrets, env };
}
async function apply(env: Record<string, string>) {
  const run = await runHostScript('apply-secret.sh', env);
  // Nothing the script prints may contain a secret value.
  for (const v of [OLD, NEW]) {
    expect(run.stdout).not.toContain(v);
    expect(run.stderr).not.toContain(v);
  }
  return ApplyResult.parse(run.json);
}
const restarts = () => host.calls().filter((c) => c[0] === 'restart').map((c) => c[c.length - 1]);

describe('apply-secret.sh', () => {
  it('replaces the value atomically, keeps the previous value and file, and restarts in order', async () => {
    // Prepare
    const { envFile, env } = prepare();
    const inode = statSync(envFile).ino;
    // Act
    const r = await apply(env('AWSPENDING'));
    // Assess
    expect(r).toMatchObject({ changed: true, errors: [], file: envFile });
    expect(readFileSync(envFile, 'utf8')).toBe(`NODE_ENV=production\nOTHER=keep\nJWT_SECRET_PREVIOUS=${OLD}\nJWT_SECRET=${NEW}\n`);
    expect(statSync(envFile).ino).not.toBe(inode);
    expect(statSync(envFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(`${envFile}.shipshape-prev`, 'utf8')).toContain(`JWT_SECRET=${OLD}`);
    expect(statSync(`${envFile}.shipshape-prev`).mode & 0o777).toBe(0o600);
    expect(restarts()).toEqual(['web-worker-1', 'web-api-1']);
    expect(r.restarts.map((x) => [x.container, x.ok])).toEqual([['web-worker-1', true], ['web-api-1', true]]);
  });

  it('changes nothing and restarts nothing when the value is already there (a retried step)', async () => {
    const { env } = prepare();
    await apply(env('AWSPENDING'));
    const again = await apply(env('AWSPENDING'));
    expect(again).toMatchObject({ changed: false, restarts: [] });
    expect(restarts()).toEqual(['web-worker-1', 'web-api-1']);
  });

  it('rolls back to the current version', async () => {
    const { envFile, env } = prepare();
    await apply(env('AWSPENDING'));
    const back = await apply(env('AWSCURRENT'));
    expect(back.changed).toBe(true);
    expect(readFileSync(envFile, 'utf8')).toContain(`JWT_SECRET=${OLD}\n`);
  });

  it.each([
    ['a newline', `${NEW}\nINJECTED=1`],
    ['shell syntax', '$(touch /tmp/pwned)'],
    ['quotes and spaces', `"${NEW}" x`],
    ['more than 4096 characters', 'x'.repeat(5000)],
  ])('refuses a value with %s and leaves the file alone', async (_what, bad) => {
    const { envFile, secrets, env } = prepare();
    writeFileSync(join(secrets, 'AWSPENDING'), `${bad}\n`);
    const before = readFileSync(envFile, 'utf8');
    const run = await runHostScript('apply-secret.sh', env('AWSPENDING'));
    const r = ApplyResult.parse(run.json);
    expect(r.changed).toBe(false);
    expect(r.errors[0]).toMatch(/refused/);
    expect(run.stdout).not.toContain(bad.slice(0, 40));
    expect(readFileSync(envFile, 'utf8')).toBe(before);
    expect(restarts()).toEqual([]);
    expect(existsSync('/tmp/pwned')).toBe(false);
  });

  it('writes a secret file (the seeds\' jwt_secret.key) atomically, keeping the previous value in previousFile', async () => {
    // Prepare
    const { keyFile, env } = prepare('file');
    const inode = statSync(keyFile).ino;
    // Act
    const r = await apply(env('AWSPENDING'));
    const again = await apply(env('AWSPENDING'));
    // Assess
    expect(r).toMatchObject({ changed: true, errors: [], file: keyFile });
    expect(readFileSync(keyFile, 'utf8')).toBe(`${NEW}\n`);
    expect(statSync(keyFile).ino).not.toBe(inode);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(`${keyFile}.previous`, 'utf8')).toBe(`${OLD}\n`);
    expect(statSync(`${keyFile}.previous`).mode & 0o777).toBe(0o600);
    expect(readFileSync(`${keyFile}.shipshape-prev`, 'utf8')).toBe(`${OLD}\n`);
    expect(again).toMatchObject({ changed: false, restarts: [] });
    expect(restarts()).toEqual(['web-api-1']);
  });

  it('writes a JSON value (a key pair) into a secret file as it is, and refuses control characters there', async () => {
    // Prepare
    const { keyFile, secrets, env } = prepare('file');
    const jwk = JSON.stringify({ kid: 'abc', alg: 'ES256', privateJwk: { kty: 'EC', d: 'x$(touch /tmp/pwned)`id`' } });
    writeFileSync(join(secrets, 'AWSPENDING'), `${jwk}\n`);
    // Act
    const run = await runHostScript('apply-secret.sh', env('AWSPENDING'));
    // Assess
    expect(ApplyResult.parse(run.json)).toMatchObject({ changed: true, errors: [] });
    expect(readFileSync(keyFile, 'utf8')).toBe(`${jwk}\n`);
    expect(run.stdout).not.toContain('privateJwk');
    expect(existsSync('/tmp/pwned')).toBe(false);
    writeFileSync(join(secrets, 'AWSCURRENT'), 'a\tb\n');
    const bad = ApplyResult.parse((await runHostScript('apply-secret.sh', env('AWSCURRENT'))).json);
    expect(bad.errors[0]).toMatch(/control characters; refused/);
    expect(readFileSync(keyFile, 'utf8')).toBe(`${jwk}\n`);
  });

  it('says so when the version does not exist', async () => {
    const { env } = prepare();
    const r = await apply(env('AWSPREVIOUS'));
    expect(r.errors[0]).toMatch(/cannot read AWSPREVIOUS of the secret: An error occurred \(ResourceNotFoundException\)/);
  });
});
