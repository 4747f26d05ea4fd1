/**
 * apply-secret.sh for real: a fake AWS CLI serves secret versions from files, the env file is
 * replaced atomically, services restart in order, bad values are refused, and the value never
 * appears in anything the script prints.
 */
import { specFile } from '../support/spec-file.js';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseFleet } from '../../lib/config/load.js';
import { secretsSpecLines } from '../../lib/runbooks/secrets.js';
import * as z from 'zod';
import { FAKE_BIN, FakeHost, running, type FakeContainer } from '../support/fake-host.js';
import { execFileSync } from 'node:child_process';
import { composeLabels, installFakeCompose } from '../support/compose.js';
import { composeSpecLines } from '../../lib/runbooks/compose.js';
import { runHostScript } from '../support/run-script.js';

const ApplyResult = z.object({ schema: z.literal('shipshape.apply-secret/1'), secret: z.string(), stage: z.string(), file: z.string().nullable(), changed: z.boolean(),
  delivery: z.string().nullable(), verified: z.boolean(),
  restarts: z.array(z.object({ container: z.string(), ok: z.boolean(), action: z.string() })),
  containers: z.array(z.object({ container: z.string(), matches: z.boolean(), problem: z.string().nullable() })), errors: z.array(z.string()) });

let host: FakeHost;
afterEach(() => host?.dispose());

const OLD = 'a'.repeat(64);
const NEW = 'b1c2'.repeat(16);


function prepare(target: 'env' | 'file' = 'env', opts: { literal?: boolean; envMounted?: boolean } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'apply-secret-'));
  const app = join(dir, 'app');
  mkdirSync(app);
  const envFile = join(app, '.env.production');
  writeFileSync(envFile, `NODE_ENV=production\nJWT_SECRET=${OLD}\nOTHER=keep\n`);
  mkdirSync(join(app, 'secrets'));
  const keyFile = join(app, 'secrets', 'jwt_secret.key');
  writeFileSync(keyFile, `${OLD}\n`, { mode: 0o640 });
  chmodSync(envFile, 0o640);
  // Each container's file system: /run/secrets is the app's secrets directory, bind-mounted; the
  // env file reaches it only through compose's env_file: (its environment).
  // With envMounted, the app directory (env file included) is mounted at /app and read at start (dotenv).
  const root = (name: string) => {
    const r = join(dir, 'roots', name);
    mkdirSync(join(r, 'run'), { recursive: true });
    symlinkSync(join(app, 'secrets'), join(r, 'run', 'secrets'));
    if (opts.envMounted) symlinkSync(app, join(r, 'app'));
    return r;
  };
  const container = (service: string): FakeContainer => running({ root: root(service), Mounts: [{ Source: join(app, 'secrets'), Destination: '/run/secrets' }, ...(opts.envMounted ? [{ Source: app, Destination: '/app' }] : [])],
    Config: { Labels: opts.literal ? {} : composeLabels('web', service, 1, app), Env: ['PATH=/usr/bin', 'NODE_ENV=production', `JWT_SECRET=${OLD}`] } });
  host = new FakeHost({ 'web-api-1': container('api'), 'web-worker-1': container('worker'), 'web-db-1': container('db') });
  const secrets = join(host.dir, 'secrets');
  mkdirSync(secrets);
  writeFileSync(join(secrets, 'AWSCURRENT'), `${OLD}\n`);
  writeFileSync(join(secrets, 'AWSPENDING'), `${NEW}\n`);
  const bin = mkdtempSync(join(tmpdir(), 'fake-aws-'));
  writeFileSync(join(bin, 'aws'), '#!/bin/sh\necho "${AWS_REGION:-none} ${AWS_DEFAULT_REGION:-none} $1 $2" >> "$FAKE_SECRETS/aws-calls.log"\nstage=""\nwhile [ $# -gt 0 ]; do case "$1" in --version-stage) stage=$2; shift;; esac; shift; done\ncat "$FAKE_SECRETS/$stage" 2>/dev/null || { echo "An error occurred (ResourceNotFoundException): no version with stage $stage" >&2; exit 254; }\n', { mode: 0o755 });
  installFakeCompose(bin);
  const fleet = parseFleet({ fleet: 'demo', stacks: [{ name: 'web', hosts: { tag: { key: 'R', value: 'w' } }, composeProject: 'web',
    services: opts.literal ? [{ name: 'api', container: 'web-api-1' }, { name: 'worker', container: 'web-worker-1' }, { name: 'db', container: 'web-db-1' }] : [{ name: 'api' }, { name: 'worker' }, { name: 'db' }],
    secrets: [target === 'env'
      ? { name: 'jwt', envFile, variable: 'JWT_SECRET', previousVariable: 'JWT_SECRET_PREVIOUS', restart: ['worker', 'api'] }
      : { name: 'jwt', file: keyFile, previousFile: `${keyFile}.previous`, restart: ['api'] }] }] });
  const stack = fleet.stacks[0]!;
  const env = (stage: string, extra: Record<string, string> = {}) => host.env({ PATH: `${bin}:${host.env().PATH}`, FAKE_SECRETS: secrets, FAKE_COMPOSE_ENV_FILE: envFile, SHIPSHAPE_STACK: 'web', SHIPSHAPE_RUN_ID: 'rot', SHIPSHAPE_SECRET: 'jwt', SHIPSHAPE_STAGE: stage,
    SHIPSHAPE_SPEC_FILE: specFile({ compose: composeSpecLines(stack), secrets: secretsSpecLines(fleet, stack) }), SHIPSHAPE_HEALTH_WAIT_SECONDS: '1', ...extra });
  return { envFile, keyFile, secrets, env, app, bin };
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
const composeCalls = (): { cwd: string; args: string[] }[] => {
  const log = join(host.state, 'compose.log');
  return existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l)) : [];
};
const recreated = () => composeCalls().filter((c) => c.args.includes('up')).map((c) => c.args.at(-1));

describe('apply-secret.sh', () => {
  it('replaces the value atomically, keeps the previous value and file, recreates the services in order through compose and verifies each container', async () => {
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
    expect(recreated()).toEqual(['worker', 'api']);
    expect(composeCalls().find((c) => c.args.includes('up'))).toMatchObject({ cwd: expect.stringMatching(/\/app$/), args: ['-p', 'web', 'up', '-d', '--no-deps', '--force-recreate', 'worker'] });
    expect(restarts()).toEqual([]);
    expect(r.restarts.map((x) => [x.container, x.action, x.ok])).toEqual([['web-worker-1', 'recreate', true], ['web-api-1', 'recreate', true]]);
    expect(r).toMatchObject({ delivery: 'recreate', verified: true });
    expect(r.containers.map((c) => [c.container, c.matches])).toEqual([['web-worker-1', true], ['web-api-1', true]]);
  });

  it('changes nothing and restarts nothing when the value is already there (a retried step)', async () => {
    const { env } = prepare();
    await apply(env('AWSPENDING'));
    const again = await apply(env('AWSPENDING'));
    expect(again).toMatchObject({ changed: false, restarts: [], verified: true });
    expect(recreated()).toEqual(['worker', 'api']);
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
    expect(recreated()).toEqual([]);
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
    expect(again).toMatchObject({ changed: false, restarts: [], verified: true });
    expect(restarts()).toEqual(['web-api-1']);
    expect(r).toMatchObject({ delivery: 'restart', verified: true });
    expect(r.containers).toEqual([expect.objectContaining({ container: 'web-api-1', matches: true })]);
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

  it('fails when a container still holds the old value after the recreate, per container', async () => {
    // Prepare: a compose that reports success and recreates nothing
    const { env } = prepare();
    // Act
    const r = await apply(env('AWSPENDING', { FAKE_COMPOSE_NOOP: '1' }));
    // Assess
    expect(r.verified).toBe(false);
    expect(r.containers.map((c) => [c.container, c.matches])).toEqual([['web-worker-1', false], ['web-api-1', false]]);
    expect(r.errors).toContain('web-worker-1 does not hold the AWSPENDING value');
  });

  it('fails clearly when an env secret needs a recreate and the host has no compose', async () => {
    // Prepare
    const { env, bin } = prepare();
    const { rmSync } = await import('node:fs');
    rmSync(join(bin, 'docker-compose'));
    // Only the tools the script needs: this machine has a real docker-compose in /usr/bin.
    const tools = mkdtempSync(join(tmpdir(), 'no-compose-bin-'));
    for (const tool of ['bash', 'sh', 'env', 'date', 'mktemp', 'rm', 'tr', 'head', 'tail', 'cat', 'grep', 'sed', 'awk', 'sha256sum', 'cut', 'dirname', 'basename', 'chmod', 'chown', 'cp', 'mv', 'mkdir', 'hostname', 'sort', 'paste', 'timeout', 'sleep']) {
      symlinkSync(execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim(), join(tools, tool));
    }
    // Act
    const r = await apply(env('AWSPENDING', { PATH: [bin, FAKE_BIN, tools].join(':') }));
    // Assess
    expect(r.errors[0]).toBe('the secret is passed as an environment variable, which a container takes only when it is created, and neither "docker compose" nor "docker-compose" is installed on the host: recreate the services by hand (docker compose up -d --force-recreate)');
    expect(r.verified).toBe(false);
  });

  it('fails when an env secret goes to a container compose did not create', async () => {
    // Prepare
    const { env } = prepare('env', { literal: true });
    // Act
    const r = await apply(env('AWSPENDING'));
    // Assess
    expect(r.errors).toContain('container web-worker-1 was not created by compose (no com.docker.compose labels): it cannot be recreated with the new environment; recreate it by hand');
    expect(r.containers.find((c) => c.container === 'web-worker-1')).toMatchObject({ matches: false });
  });

  it('restarts nothing for a file the app rereads, and still checks the file inside each container', async () => {
    // Prepare
    const { env } = prepare('file');
    const { readFileSync: read, writeFileSync: write } = await import('node:fs');
    const spec = env('AWSPENDING').SHIPSHAPE_SPEC_FILE!;
    write(spec, read(spec, 'utf8').replace(/\trestart\n/, '\tnone\n'));
    // Act
    const r = await apply({ ...env('AWSPENDING'), SHIPSHAPE_SPEC_FILE: spec });
    // Assess
    expect(r).toMatchObject({ delivery: 'none', verified: true, restarts: [] });
    expect(restarts()).toEqual([]);
  });

  it('makes every AWS call in the document\'s region (hybrid nodes and AWS CLI v1 have no default)', async () => {
    // Prepare
    const { env, secrets } = prepare();
    // Act
    await apply(env('AWSPENDING', { SHIPSHAPE_REGION: 'ap-southeast-2' }));
    // Assess
    const calls = readFileSync(join(secrets, 'aws-calls.log'), 'utf8').trim().split('\n');
    expect(calls).toEqual(['ap-southeast-2 ap-southeast-2 secretsmanager get-secret-value']);
  });

  it('restarts a container that reads a bind-mounted env file at start, and checks the variable in the file it sees', async () => {
    // Prepare: dotenv-style, the env file is mounted at /app; the environment keeps the old value
    const { env } = prepare('env', { envMounted: true });
    // Act
    const r = await apply(env('AWSPENDING'));
    // Assess
    expect(r).toMatchObject({ delivery: 'restart', verified: true, errors: [] });
    expect(restarts()).toEqual(['web-worker-1', 'web-api-1']);
    expect(recreated()).toEqual([]);
  });
});
