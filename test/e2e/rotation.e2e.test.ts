/**
 * Secret rotation, end to end: the rotation function's logic → SSM (local document runner) →
 * the synthesized apply-secret, health-check and secret-grace documents on TWO fake hosts, with
 * one in-memory Secrets Manager (test/support/fake-secrets.ts) whose stages the hosts' AWS CLI
 * reads. Every captured output is scanned for the secret values.
 *
 * Two hosts, one configured path: the config names /…/app/.env.production for every host, as a
 * real fleet does. Each fake host has its own directory, and a wrapper `sh` first in its PATH
 * (the document runner starts each script with `sh`) takes a lock and points the configured
 * paths (symlinks) at that host's directory while its script runs. The hosts take turns, which
 * SSM's concurrency allows; each sees only its own files.
 *
 * Compose: a stand-in `docker-compose` (the fake docker has no `compose`) that, for
 * `up --force-recreate <service>`, gives the service's containers the env file's variables again,
 * as compose does for env_file: when it recreates a container.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { operate } from '../../lambdas/rotation/operate.js';
import { GRACE_ENDED_LABEL, rotate, RotationError, type RotationClients, type RotationContext } from '../../lambdas/rotation/rotate.js';
import { parseFleet } from '../../lib/config/load.js';
import type { Fleet } from '../../lib/config/schema.js';
import { fleetSpecs } from '../../lib/runbooks/spec.js';
import { composeLabels, installFakeCompose } from '../support/compose.js';
import { documentsOf } from '../support/document-runner.js';
import { FakeHost, running, type FakeContainer } from '../support/fake-host.js';
import { FakeSecretsManager } from '../support/fake-secrets.js';
import { FakeSsm } from '../support/fake-ssm.js';
import { synthFleet } from '../support/synth.js';

const NAME = 'shipshape/demo/web/jwt';
const ARN = `arn:aws:secretsmanager:us-east-1:111122223333:secret:${NAME}-AbCdEf`;
const OLD_VERSION = 'v-old-0000-0000-0000-000000000000';
const TOKEN = 'v-new-1111-1111-1111-111111111111';
const OLD_VALUE = 'c0ffee'.repeat(8);
const HOSTS = ['i-00000000000000001', 'i-00000000000000002'];
const work = mkdtempSync(join(tmpdir(), 'rotation-e2e-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

// The configured paths, the same on every host: symlinks the wrapper points at the running host's directories.
const APP = join(work, 'app');
const KEYS = join(work, 'keys');
const ENV_FILE = join(APP, '.env.production');
const KEY_FILE = join(KEYS, 'jwt.key');
const PREVIOUS_KEY = join(KEYS, 'jwt.key.previous');
const hostDir = (id: string, what: 'app' | 'keys' | 'root') => join(work, 'hosts', id, what);

const bin = join(work, 'bin');
mkdirSync(bin);
// The hosts' AWS CLI: the value of a stage, from files the Secrets Manager stand-in keeps current.
writeFileSync(join(bin, 'aws'), [
  '#!/bin/sh', 'stage=""', 'while [ $# -gt 0 ]; do case "$1" in --version-stage) stage=$2; shift;; esac; shift; done',
  'if [ "$stage" = "${FAKE_DENY_STAGE:-}" ]; then echo "An error occurred (AccessDeniedException): not authorized" >&2; exit 254; fi',
  'cat "$FAKE_SECRETS/$stage" 2>/dev/null || { echo "An error occurred (ResourceNotFoundException): no $stage" >&2; exit 254; }', '',
].join('\n'), { mode: 0o755 });
// One machine, two hosts: each script runs with the configured paths pointing at its host's files.
writeFileSync(join(bin, 'sh'), [
  '#!/bin/bash',
  'if [ -n "${FAKE_HOST_LOCKED:-}" ]; then exec /bin/sh "$@"; fi',
  'export FAKE_HOST_LOCKED=1',
  'exec 9> "$FAKE_HOST_LOCK"',
  'flock 9',
  'for pair in $FAKE_HOST_LINKS; do ln -sfn "${pair#*=}" "${pair%%=*}"; done',
  'exec /bin/sh "$@"', '',
].join('\n'), { mode: 0o755 });
installFakeCompose(bin);

const sns = mockClient(SNSClient);
let secrets: FakeSecretsManager;
let hosts: FakeHost[];
let ssm: FakeSsm;
const stageDir = join(work, 'stages');

type Kind = 'env' | 'file';
let synthesized: ReturnType<typeof documentsOf> | undefined;

function fleetFor(kind: Kind): Fleet {
  return parseFleet({
    fleet: 'demo',
    stacks: [{
      name: 'web', hosts: { tag: { key: 'Role', value: 'web' } }, composeDir: APP, composeProject: 'web',
      services: [{ name: 'api' }, { name: 'db' }],
      secrets: [kind === 'env'
        ? { name: 'jwt', envFile: ENV_FILE, variable: 'JWT_SECRET', previousVariable: 'JWT_SECRET_PREVIOUS', restart: ['api'], graceDays: 7 }
        : { name: 'jwt', file: KEY_FILE, previousFile: PREVIOUS_KEY, restart: ['api'], graceDays: 7 }],
    }],
  });
}

function container(id: string, service: string, kind: Kind, extra: Partial<FakeContainer> = {}): FakeContainer {
  const env = kind === 'env' ? ['PATH=/usr/bin', 'NODE_ENV=production', `JWT_SECRET=${OLD_VALUE}`] : ['PATH=/usr/bin'];
  return running({
    Config: { Labels: composeLabels('web', service, 1, APP), Env: env },
    // File secrets: the keys directory is bind-mounted at /run/secrets; the container's root sees the host's files.
    ...(kind === 'file' ? { Mounts: [{ Source: KEYS, Destination: '/run/secrets' }], root: hostDir(id, 'root') } : {}),
    ...extra,
  });
}

function setUp(kind: Kind, opts: { deny?: string } = {}) {
  const fleet = fleetFor(kind);
  for (const id of HOSTS) {
    rmSync(join(work, 'hosts', id), { recursive: true, force: true });
    mkdirSync(hostDir(id, 'app'), { recursive: true });
    mkdirSync(hostDir(id, 'keys'), { recursive: true });
    mkdirSync(join(hostDir(id, 'root'), 'run'), { recursive: true });
    symlinkSync(hostDir(id, 'keys'), join(hostDir(id, 'root'), 'run', 'secrets'));
    writeFileSync(join(hostDir(id, 'app'), '.env.production'), `NODE_ENV=production\nJWT_SECRET=${kind === 'env' ? OLD_VALUE : 'unused'}\n`, { mode: 0o600 });
    writeFileSync(join(hostDir(id, 'keys'), 'jwt.key'), `${OLD_VALUE}\n`, { mode: 0o600 });
  }
  // One synth for both kinds of secret: the documents read the secret's settings from the spec
  // (fleetSpecs below), and the two fleets have the same fleet, stack and services.
  const documents = (synthesized ??= documentsOf(synthFleet(fleet).template.toJSON() as never));
  const names: Record<string, string> = {};
  for (const [id, d] of Object.entries(documents)) {
    if (d.description.includes('apply a version of an application secret')) names['apply-secret'] = id;
    else if (d.description.includes('end the grace period')) names['secret-grace'] = id;
    else if (d.description.includes('health check')) names['health-check'] = id;
  }
  expect(Object.keys(names).sort()).toEqual(['apply-secret', 'health-check', 'secret-grace']);
  hosts = HOSTS.map((id) => new FakeHost({ 'web-api-1': container(id, 'api', kind), 'web-db-1': container(id, 'db', kind) }));
  ssm = new FakeSsm(documents, HOSTS.map((instanceId, i) => ({
    instanceId, tags: { 'shipshape:fleet': 'demo', Role: 'web' }, host: hosts[i],
    env: {
      PATH: `${bin}:${hosts[i]!.env().PATH}`, FAKE_SECRETS: stageDir, SHIPSHAPE_HEALTH_WAIT_SECONDS: '2',
      FAKE_HOST_LOCK: join(work, 'host.lock'), FAKE_HOST_LINKS: `${APP}=${hostDir(instanceId, 'app')} ${KEYS}=${hostDir(instanceId, 'keys')}`,
      FAKE_COMPOSE_ENV_FILE: join(hostDir(instanceId, 'app'), '.env.production'), FAKE_COMPOSE_BASE_ENV: 'PATH=/usr/bin',
      ...(opts.deny ? { FAKE_DENY_STAGE: opts.deny } : {}),
    },
  })), undefined, fleetSpecs(fleet));
  let now = Date.now();
  const ctx: RotationContext = { fleet, documents: names, outputBucket: 'out', topicArn: 'arn:aws:sns:us-east-1:111122223333:alerts', clock: { sleep: async () => {}, now: () => now }, pollMs: 10 };
  const clients: RotationClients = { sm: secrets.client, ssm: ssm.client, sns: new SNSClient({ region: 'us-east-1' }), s3: new S3Client({ region: 'us-east-1' }) };
  return { ctx, clients, later: (days: number) => { now += days * 86_400_000; } };
}

beforeEach(() => {
  rmSync(stageDir, { recursive: true, force: true });
  secrets = new FakeSecretsManager(stageDir);
  secrets.add({ arn: ARN, name: NAME, values: { [OLD_VERSION]: OLD_VALUE } });
  // As RotateSecret leaves it before calling createSecret: the new version labelled, without a value.
  secrets.startRotation(ARN, TOKEN);
  sns.reset();
  sns.on(PublishCommand).resolves({ MessageId: 'm' });
});
afterEach(() => {
  ssm?.restore();
  secrets.restore();
  for (const h of hosts ?? []) h.dispose();
});

const ev = (Step: string) => ({ SecretId: ARN, ClientRequestToken: TOKEN, Step });
const current = () => secrets.holder(ARN, 'AWSCURRENT');
const alerts = () => sns.commandCalls(PublishCommand).map((c) => c.args[0].input);
const critical = () => alerts().filter((a) => a.MessageAttributes?.severity?.StringValue === 'critical');
const envOf = (id: string) => readFileSync(join(hostDir(id, 'app'), '.env.production'), 'utf8');
const containerEnv = (i: number, name = 'web-api-1') => hosts[i]!.containers()[name]!.Config!.Env!;
const composeCalls = (i: number): string[][] => {
  const log = join(hosts[i]!.state, 'compose.log');
  return existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { args: string[] }).args).filter((a) => a.includes('up')) : [];
};
const restarts = (i: number) => hosts[i]!.calls().filter((c) => c[0] === 'restart').length;
const fullRotation = async (clients: RotationClients, ctx: RotationContext) => { for (const step of ['createSecret', 'setSecret', 'testSecret', 'finishSecret']) await rotate(clients, ctx, ev(step)); };

function assertNoLeaks() {
  const captured = [JSON.stringify(ssm.sent), ssm.allOutput(), JSON.stringify(alerts()), JSON.stringify(ssm.drainEvents())].join('\n');
  expect(secrets.allValues().length).toBeGreaterThan(1);
  for (const v of secrets.allValues()) expect(captured).not.toContain(v);
}

describe('secret rotation on two hosts, end to end', () => {
  it('rotates: on both hosts the env file holds the new value with the old one as previous, the service was recreated, and AWSCURRENT moved', async () => {
    // Prepare
    const { ctx, clients } = setUp('env');
    // Act
    await fullRotation(clients, ctx);
    // Assess
    const newValue = secrets.value(ARN, TOKEN)!;
    expect(newValue).toMatch(/^[0-9a-f]{64}$/);
    for (const [i, id] of HOSTS.entries()) {
      expect(envOf(id).split('\n').sort()).toEqual(['', `JWT_SECRET=${newValue}`, `JWT_SECRET_PREVIOUS=${OLD_VALUE}`, 'NODE_ENV=production']);
      expect(containerEnv(i)).toContain(`JWT_SECRET=${newValue}`);
      expect(composeCalls(i)).toEqual([['-p', 'web', 'up', '-d', '--no-deps', '--force-recreate', 'api']]);
    }
    expect(current()).toBe(TOKEN);
    expect(ssm.sent.map((c) => c.Parameters?.Stage?.[0] ?? c.DocumentName)).toEqual(['AWSPENDING', 'AWSPENDING', expect.stringContaining('HealthCheck')]);
    expect(critical()).toEqual([]);
    assertNoLeaks();
  });

  it('fails when the service does not come back healthy with the new value on one host: both hosts get the old value back and AWSCURRENT stays', async () => {
    // Prepare
    const { ctx, clients } = setUp('env');
    await rotate(clients, ctx, ev('createSecret'));
    await rotate(clients, ctx, ev('setSecret'));
    // The application on the second host crashes on the new value.
    hosts[1]!.setContainers({ ...hosts[1]!.containers(), 'web-api-1': { ...hosts[1]!.containers()['web-api-1']!, State: { Status: 'exited', Health: { Status: 'healthy' } } } });
    // Act
    const tested = rotate(clients, ctx, ev('testSecret'));
    // Assess
    await expect(tested).rejects.toThrow(RotationError);
    for (const [i, id] of HOSTS.entries()) {
      expect(envOf(id)).toContain(`\nJWT_SECRET=${OLD_VALUE}\n`);
      expect(containerEnv(i)).toContain(`JWT_SECRET=${OLD_VALUE}`);
    }
    expect(current()).toBe(OLD_VERSION);
    expect(critical()[0]!.Subject).toBe('[CRITICAL] demo/web: rotation of jwt failed at testSecret');
    expect(critical()[0]!.Message).toContain(`${HOSTS[1]}: container web-api-1 is exited`);
    expect(critical()[0]!.Message).toContain('Rollback: every host has the AWSCURRENT value again');
    assertNoLeaks();
  });

  it('fails when the hosts may not read the pending version, and changes nothing', async () => {
    // Prepare
    const { ctx, clients } = setUp('env', { deny: 'AWSPENDING' });
    const before = HOSTS.map(envOf);
    await rotate(clients, ctx, ev('createSecret'));
    // Act
    const set = rotate(clients, ctx, ev('setSecret'));
    // Assess
    // Both hosts, in the order their results came back (the hosts run concurrently).
    await expect(set).rejects.toThrow(new RegExp(`setSecret failed on (${HOSTS.join(', ')}|${[...HOSTS].reverse().join(', ')})$`));
    expect(HOSTS.map(envOf)).toEqual(before);
    expect(critical()[0]!.Message).toContain('AccessDeniedException');
    assertNoLeaks();
  });

  it('rolls back from the console: the previous value on both hosts, verified and health-checked, then current again', async () => {
    // Prepare
    const { ctx, clients } = setUp('env');
    await fullRotation(clients, ctx);
    // Act
    await operate(clients, ctx, { action: 'rollback', secret: 'web/jwt' });
    // Assess
    for (const [i, id] of HOSTS.entries()) {
      expect(envOf(id)).toContain(`\nJWT_SECRET=${OLD_VALUE}\n`);
      expect(containerEnv(i)).toContain(`JWT_SECRET=${OLD_VALUE}`);
    }
    expect(current()).toBe(OLD_VERSION);
    expect(secrets.holder(ARN, 'AWSPREVIOUS')).toBe(TOKEN);
    assertNoLeaks();
  });

  it('ends the grace period (recreate): the previous variable leaves both env files and both containers are recreated without it', async () => {
    // Prepare
    const { ctx, clients, later } = setUp('env');
    await fullRotation(clients, ctx);
    for (const [i] of HOSTS.entries()) expect(containerEnv(i)).toContain(`JWT_SECRET_PREVIOUS=${OLD_VALUE}`);
    // Act: a sweep within the grace period, then one after it
    await expect(operate(clients, ctx, { action: 'sweep' })).resolves.toBe('sweep: 0 action(s), 0 error(s)');
    later(8);
    const said = await operate(clients, ctx, { action: 'sweep' });
    // Assess
    expect(said).toMatch(/web\/jwt: grace period ended \d{4}-\d\d-\d\dT\d\d:\d\dZ; the previous value is gone from 2 host\(s\), verified/);
    const newValue = secrets.value(ARN, TOKEN)!;
    for (const [i, id] of HOSTS.entries()) {
      expect(envOf(id).split('\n').sort()).toEqual(['', `JWT_SECRET=${newValue}`, 'NODE_ENV=production']);
      expect(containerEnv(i).filter((e) => e.startsWith('JWT_SECRET'))).toEqual([`JWT_SECRET=${newValue}`]);
      expect(composeCalls(i)).toHaveLength(2);
      expect(existsSync(join(hostDir(id, 'app'), '.env.production.shipshape-prev'))).toBe(false);
    }
    expect(secrets.versions(ARN)[OLD_VERSION]).toEqual(['AWSPREVIOUS', GRACE_ENDED_LABEL]);
    // Every grace run went through the pipeline's result format, verified per container.
    const results = ssm.allOutput().split('\n').filter((l) => l.includes('"shipshape.secret-grace/1"')).map((l) => JSON.parse(l) as { verified: boolean; containers: { holdsPrevious: boolean }[]; graceEnded: string });
    expect(results.map((r) => [r.verified, r.containers.map((c) => c.holdsPrevious)])).toEqual([[true, [false]], [true, [false]]]);
    assertNoLeaks();
  });

  it('ends the grace period (restart): the previous file goes on both hosts and the containers that read it at start are restarted', async () => {
    // Prepare
    const { ctx, clients, later } = setUp('file');
    await fullRotation(clients, ctx);
    const newValue = secrets.value(ARN, TOKEN)!;
    for (const id of HOSTS) {
      expect(readFileSync(join(hostDir(id, 'keys'), 'jwt.key'), 'utf8')).toBe(`${newValue}\n`);
      expect(readFileSync(join(hostDir(id, 'keys'), 'jwt.key.previous'), 'utf8')).toBe(`${OLD_VALUE}\n`);
    }
    const before = HOSTS.map((_, i) => restarts(i));
    // Act
    later(8);
    const said = await operate(clients, ctx, { action: 'sweep' });
    // Assess
    expect(said).toContain('the previous value is gone from 2 host(s), verified');
    for (const [i, id] of HOSTS.entries()) {
      expect(existsSync(join(hostDir(id, 'keys'), 'jwt.key.previous'))).toBe(false);
      expect(readFileSync(join(hostDir(id, 'keys'), 'jwt.key'), 'utf8')).toBe(`${newValue}\n`);
      expect(restarts(i)).toBe(before[i]! + 1);
    }
    expect(secrets.versions(ARN)[OLD_VERSION]).toEqual(['AWSPREVIOUS', GRACE_ENDED_LABEL]);
    assertNoLeaks();
  });
});
