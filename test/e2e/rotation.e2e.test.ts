/**
 * Secret rotation, end to end: the four rotation steps of the Lambda logic → SSM (local
 * document runner) → the synthesized apply-secret and health-check documents on two fake
 * hosts, whose AWS CLI reads versions from an in-memory Secrets Manager by stage. Every
 * captured output is scanned for the secret values.
 */
import {
  DescribeSecretCommand, GetSecretValueCommand, PutSecretValueCommand, SecretsManagerClient, UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { operate } from '../../lambdas/rotation/operate.js';
import { rotate, RotationError } from '../../lambdas/rotation/rotate.js';
import { parseFleet } from '../../lib/config/load.js';
import { fleetSpecs } from '../../lib/runbooks/spec.js';
import { documentsOf } from '../support/document-runner.js';
import { FakeHost, running } from '../support/fake-host.js';
import { FakeSsm } from '../support/fake-ssm.js';
import { synthFleet } from '../support/synth.js';

const NAME = 'shipshape/demo/web/jwt';
const ARN = `arn:aws:secretsmanager:us-east-1:111122223333:secret:${NAME}-AbCdEf`;
const OLD_VERSION = 'v-old-0000-0000-0000-000000000000';
const TOKEN = 'v-new-1111-1111-1111-111111111111';
const work = mkdtempSync(join(tmpdir(), 'rotation-e2e-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

// The hosts' AWS CLI: the value of a stage, from files the Secrets Manager stand-in keeps current.
const awsBin = join(work, 'bin');
mkdirSync(awsBin);
writeFileSync(join(awsBin, 'aws'), [
  '#!/bin/sh', 'stage=""', 'while [ $# -gt 0 ]; do case "$1" in --version-stage) stage=$2; shift;; esac; shift; done',
  'if [ "$stage" = "${FAKE_DENY_STAGE:-}" ]; then echo "An error occurred (AccessDeniedException): not authorized" >&2; exit 254; fi',
  'cat "$FAKE_SECRETS/$stage" 2>/dev/null || { echo "An error occurred (ResourceNotFoundException): no $stage" >&2; exit 254; }', '',
].join('\n'), { mode: 0o755 });

const sm = mockClient(SecretsManagerClient);
const sns = mockClient(SNSClient);
const stageDir = join(work, 'stages');
mkdirSync(stageDir);
let versions: Record<string, string[]>;
let values: Record<string, string>;
function syncStages() {
  for (const stage of ['AWSCURRENT', 'AWSPENDING', 'AWSPREVIOUS']) {
    const v = Object.entries(versions).find(([, s]) => s.includes(stage))?.[0];
    if (v && values[v] !== undefined) writeFileSync(join(stageDir, stage), `${values[v]}\n`);
    else rmSync(join(stageDir, stage), { force: true });
  }
}

let host: FakeHost;
let ssm: FakeSsm;
const OLD_VALUE = 'c0ffee'.repeat(8);
const HOST_ID = 'i-00000000000000001';
const envFile = join(work, 'app', '.env.production');
mkdirSync(join(work, 'app'));

function setUp(deny?: string) {
  writeFileSync(envFile, `NODE_ENV=production\nJWT_SECRET=${OLD_VALUE}\n`, { mode: 0o600 });
  const fleet = parseFleet({
    fleet: 'demo',
    stacks: [{
      name: 'web', hosts: { tag: { key: 'Role', value: 'web' } }, composeDir: work,
      services: [{ name: 'api', container: 'web-api-1' }, { name: 'db', container: 'web-db-1' }],
      secrets: [{ name: 'jwt', envFile, variable: 'JWT_SECRET', previousVariable: 'JWT_SECRET_PREVIOUS', restart: ['api'] }],
    }],
  });
  const documents = documentsOf(synthFleet(fleet).template.toJSON() as never);
  const names: Record<string, string> = {};
  for (const [id, d] of Object.entries(documents)) {
    if (d.description.includes('apply a version of an application secret')) names['apply-secret'] = id;
    else if (d.description.includes('health check')) names['health-check'] = id;
  }
  expect(Object.keys(names).sort()).toEqual(['apply-secret', 'health-check']);
  host = new FakeHost({ 'web-api-1': running(), 'web-db-1': running() });
  ssm = new FakeSsm(documents, [{
    instanceId: HOST_ID, tags: { 'shipshape:fleet': 'demo', Role: 'web' }, host,
    env: { PATH: `${awsBin}:${host.env().PATH}`, FAKE_SECRETS: stageDir, SHIPSHAPE_HEALTH_WAIT_SECONDS: '2', ...(deny ? { FAKE_DENY_STAGE: deny } : {}) },
  }], undefined, fleetSpecs(fleet));
  const ctx = { fleet, documents: names, outputBucket: 'out', topicArn: 'arn:aws:sns:us-east-1:111122223333:alerts', sleep: async () => {} };
  const clients = { sm: new SecretsManagerClient({ region: 'us-east-1' }), ssm: ssm.client, sns: new SNSClient({ region: 'us-east-1' }) };
  return { ctx, clients };
}

beforeEach(() => {
  sm.reset(); sns.reset();
  // As RotateSecret leaves it before calling createSecret: the new version labelled, without a value.
  versions = { [OLD_VERSION]: ['AWSCURRENT'], [TOKEN]: ['AWSPENDING'] };
  values = { [OLD_VERSION]: OLD_VALUE };
  syncStages();
  sm.on(DescribeSecretCommand).callsFake(() => ({ ARN, Name: NAME, RotationEnabled: true, VersionIdsToStages: structuredClone(versions) }));
  sm.on(GetSecretValueCommand).callsFake(({ VersionId }) => {
    if (!values[VersionId]) throw Object.assign(new Error('no such version'), { name: 'ResourceNotFoundException' });
    return { SecretString: values[VersionId] };
  });
  sm.on(PutSecretValueCommand).callsFake(({ ClientRequestToken, SecretString, VersionStages }) => {
    values[ClientRequestToken] = SecretString;
    versions[ClientRequestToken] = VersionStages;
    syncStages();
    return {};
  });
  sm.on(UpdateSecretVersionStageCommand).callsFake(({ VersionStage, MoveToVersionId, RemoveFromVersionId }) => {
    expect(VersionStage).toBe('AWSCURRENT');
    versions = Object.fromEntries(Object.entries(versions).map(([v, s]) => [v, s.filter((x) => x !== 'AWSPREVIOUS' && x !== 'AWSCURRENT' && !(v === MoveToVersionId && x === 'AWSPENDING'))]));
    versions[MoveToVersionId] = [...versions[MoveToVersionId]!, 'AWSCURRENT'];
    if (RemoveFromVersionId) versions[RemoveFromVersionId] = [...versions[RemoveFromVersionId]!, 'AWSPREVIOUS'];
    syncStages();
    return {};
  });
  sns.on(PublishCommand).resolves({ MessageId: 'm' });
});
afterEach(() => {
  ssm?.restore();
  host?.dispose();
});

const ev = (Step: string) => ({ SecretId: ARN, ClientRequestToken: TOKEN, Step });
const current = () => Object.entries(versions).find(([, s]) => s.includes('AWSCURRENT'))![0];
const restarts = () => host.calls().filter((c) => c[0] === 'restart').length;
const alerts = () => sns.commandCalls(PublishCommand).map((c) => c.args[0].input);

function assertNoLeaks() {
  const captured = [JSON.stringify(ssm.sent), ssm.allOutput(), JSON.stringify(alerts()), JSON.stringify(ssm.drainEvents())].join('\n');
  expect(Object.keys(values).length).toBeGreaterThan(1);
  for (const v of Object.values(values)) expect(captured).not.toContain(v);
}

describe('secret rotation, end to end', () => {
  it('rotates: the host holds the new value with the old one as previous, the service restarted, and AWSCURRENT moved', async () => {
    // Prepare
    const { ctx, clients } = setUp();
    // Act
    for (const step of ['createSecret', 'setSecret', 'testSecret', 'finishSecret']) await rotate(clients, ctx, ev(step));
    // Assess
    const newValue = values[TOKEN]!;
    expect(newValue).toMatch(/^[0-9a-f]{64}$/);
    expect(readFileSync(envFile, 'utf8').split('\n').sort()).toEqual(['', 'JWT_SECRET=' + newValue, 'JWT_SECRET_PREVIOUS=' + OLD_VALUE, 'NODE_ENV=production']);
    expect(current()).toBe(TOKEN);
    expect(restarts()).toBe(1);
    expect(ssm.sent.map((c) => c.Parameters?.Stage?.[0] ?? c.DocumentName)).toEqual(['AWSPENDING', expect.stringContaining('HealthCheck')]);
    expect(alerts()).toEqual([]);
    assertNoLeaks();
  });

  it('fails when the service does not come back healthy with the new value: the host gets the old value back and AWSCURRENT stays', async () => {
    // Prepare
    const { ctx, clients } = setUp();
    await rotate(clients, ctx, ev('createSecret'));
    await rotate(clients, ctx, ev('setSecret'));
    // The application crashes on the new value.
    host.setContainers({ 'web-api-1': running({ State: { Status: 'exited', Health: { Status: 'healthy' } } }), 'web-db-1': running() });
    // Act
    const tested = rotate(clients, ctx, ev('testSecret'));
    // Assess
    await expect(tested).rejects.toThrow(RotationError);
    expect(readFileSync(envFile, 'utf8')).toContain(`JWT_SECRET=${OLD_VALUE}\n`);
    expect(current()).toBe(OLD_VERSION);
    expect(alerts()[0]!.Subject).toBe('[CRITICAL] demo/web: rotation of jwt failed at testSecret');
    expect(alerts()[0]!.Message).toContain('Rollback: every host has the AWSCURRENT value again');
    assertNoLeaks();
  });

  it('fails when the host may not read the pending version, and changes nothing', async () => {
    // Prepare
    const { ctx, clients } = setUp('AWSPENDING');
    const before = readFileSync(envFile, 'utf8');
    await rotate(clients, ctx, ev('createSecret'));
    // Act
    const set = rotate(clients, ctx, ev('setSecret'));
    // Assess
    await expect(set).rejects.toThrow(/setSecret failed on i-00000000000000001/);
    expect(readFileSync(envFile, 'utf8')).toBe(before);
    expect(alerts()[0]!.Message).toContain('AccessDeniedException');
    assertNoLeaks();
  });

  it('rolls back from the console: the previous value on the host, health-checked, then current again', async () => {
    // Prepare
    const { ctx, clients } = setUp();
    for (const step of ['createSecret', 'setSecret', 'testSecret', 'finishSecret']) await rotate(clients, ctx, ev(step));
    // Act
    await operate(clients, ctx, { action: 'rollback', secret: 'web/jwt' });
    // Assess
    expect(readFileSync(envFile, 'utf8')).toContain(`\nJWT_SECRET=${OLD_VALUE}\n`);
    expect(current()).toBe(OLD_VERSION);
    expect(versions[TOKEN]).toEqual(['AWSPREVIOUS']);
    assertNoLeaks();
  });
});
