import { DescribeSecretCommand, GetSecretValueCommand, PutSecretValueCommand, RotateSecretCommand, SecretsManagerClient, UpdateSecretVersionStageCommand } from '@aws-sdk/client-secrets-manager';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { GetCommandInvocationCommand, ListCommandInvocationsCommand, ListCommandsCommand, SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { operate, secretAges } from '../../../lambdas/rotation/operate.js';
import { newValue, rotate, RotationError } from '../../../lambdas/rotation/rotate.js';
import { createHash, createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { demoFleet } from '../../support/fleets.js';
import { healthyWebResult } from '../../support/results.js';

const sm = mockClient(SecretsManagerClient);
const ssm = mockClient(SSMClient);
const sns = mockClient(SNSClient);
const clients = { sm: new SecretsManagerClient({}), ssm: new SSMClient({}), sns: new SNSClient({}) };
const fleet = demoFleet((f) => {
  f.stacks[0]!.secrets = [{ name: 'jwt', envFile: '/opt/web/.env', variable: 'JWT_SECRET', previousVariable: 'JWT_SECRET_PREVIOUS', restart: ['api'] }];
});
const NAME = 'shipshape/demo/web/jwt';
const ARN = `arn:aws:secretsmanager:eu-central-1:111122223333:secret:${NAME}-AbCdEf`;
const OLD = 'v-old-0000-0000-0000-000000000000';
const TOKEN = 'v-new-1111-1111-1111-111111111111';
const NEW_VALUE = 'ab'.repeat(32);
const HOSTS = ['i-00000000000000001', 'i-00000000000000002'];

/** Secrets Manager as far as rotation sees it: versions, stages, values. */
let versions: Record<string, string[]>;
let values: Record<string, string>;
/** What each host holds, and how its runs go. */
let holds: Record<string, string>;
let applyFails: Set<string>;
let unhealthyWith: string | undefined;
let rollbackFails: boolean;
/** Hosts whose containers still hold the old value when apply-secret verifies (a recreate that did not happen). */
let staleOn: Set<string>;
let command = 0;
let runs: Record<string, { document: string; stage?: string }>;

const ctx = { fleet, documents: { 'apply-secret': 'ApplyDoc', 'health-check': 'HealthDoc' }, outputBucket: 'out', topicArn: 'arn:aws:sns:eu-central-1:111122223333:alerts', sleep: async () => {}, random: (n: number) => Buffer.alloc(n, 0xab) };
const ev = (Step: string, token = TOKEN) => ({ SecretId: ARN, ClientRequestToken: token, Step });

beforeEach(() => {
  sm.reset(); ssm.reset(); sns.reset();
  versions = { [OLD]: ['AWSCURRENT'], [TOKEN]: ['AWSPENDING'] };
  values = { [OLD]: 'cd'.repeat(32) };
  holds = Object.fromEntries(HOSTS.map((h) => [h, OLD]));
  applyFails = new Set();
  unhealthyWith = undefined;
  rollbackFails = false;
  staleOn = new Set();
  runs = {};
  sm.on(DescribeSecretCommand).callsFake(() => ({ ARN, Name: NAME, RotationEnabled: true, VersionIdsToStages: structuredClone(versions) }));
  sm.on(GetSecretValueCommand).callsFake(({ VersionId }) => {
    if (!values[VersionId]) throw Object.assign(new Error('no such version'), { name: 'ResourceNotFoundException' });
    return { SecretString: values[VersionId] };
  });
  sm.on(PutSecretValueCommand).callsFake(({ ClientRequestToken, SecretString }) => { values[ClientRequestToken] = SecretString; return {}; });
  sm.on(UpdateSecretVersionStageCommand).callsFake(({ MoveToVersionId, RemoveFromVersionId }) => {
    versions = Object.fromEntries(Object.entries(versions).map(([v, s]) => [v, s.filter((x) => x !== 'AWSPREVIOUS' && x !== 'AWSCURRENT' && !(v === MoveToVersionId && x === 'AWSPENDING'))]));
    versions[MoveToVersionId] = [...(versions[MoveToVersionId] ?? []), 'AWSCURRENT'];
    if (RemoveFromVersionId) versions[RemoveFromVersionId] = [...(versions[RemoveFromVersionId] ?? []), 'AWSPREVIOUS'];
    return {};
  });
  ssm.on(SendCommandCommand).callsFake(({ DocumentName, Parameters }) => {
    const id = `0b9c1a2e-0000-0000-0000-${String(++command).padStart(12, '0')}`;
    runs[id] = { document: DocumentName, stage: Parameters.Stage?.[0] };
    return { Command: { CommandId: id } };
  });
  ssm.on(ListCommandsCommand).resolves({ Commands: [{ Status: 'Success' }] });
  ssm.on(ListCommandInvocationsCommand).callsFake(() => ({ CommandInvocations: HOSTS.map((InstanceId) => ({ InstanceId })) }));
  ssm.on(GetCommandInvocationCommand).callsFake(({ CommandId, InstanceId }) => {
    const r = runs[CommandId]!;
    if (r.document === 'ApplyDoc') {
      const failing = r.stage === 'AWSCURRENT' ? rollbackFails : applyFails.has(InstanceId);
      if (!failing) holds[InstanceId] = Object.entries(versions).find(([, s]) => s.includes(r.stage!))![0];
      const stale = staleOn.has(InstanceId) && r.stage === 'AWSPENDING';
      return { Status: 'Success', StatusDetails: 'Success', StandardOutputContent: JSON.stringify({ schema: 'shipshape.apply-secret/1', verified: !stale, containers: [{ container: 'web-api-1', matches: !stale }],
        errors: failing ? ['web-api-1 is not running and healthy after the restart (exited, none)'] : [] }) };
    }
    const h = healthyWebResult();
    if (unhealthyWith && holds[InstanceId] === unhealthyWith) h.containers[0]!.state = 'exited';
    return { Status: 'Success', StatusDetails: 'Success', StandardOutputContent: JSON.stringify(h) };
  });
  sns.on(PublishCommand).resolves({ MessageId: 'm' });
});

const current = () => Object.entries(versions).find(([, s]) => s.includes('AWSCURRENT'))![0];
const alerts = () => sns.commandCalls(PublishCommand).map((c) => c.args[0].input);
function noLeaks() {
  for (const v of [NEW_VALUE, values[OLD]!]) {
    expect(JSON.stringify(alerts())).not.toContain(v);
    expect(JSON.stringify(ssm.calls().map((c) => c.args[0].input))).not.toContain(v);
  }
}

describe('rotation', () => {
  it('runs the four steps: new value pending, applied and tested on every host, then current', async () => {
    for (const step of ['createSecret', 'setSecret', 'testSecret', 'finishSecret']) await rotate(clients, ctx, ev(step));
    expect(values[TOKEN]).toBe(NEW_VALUE);
    expect(current()).toBe(TOKEN);
    expect(versions[OLD]).toEqual(['AWSPREVIOUS']);
    expect(holds).toEqual(Object.fromEntries(HOSTS.map((h) => [h, TOKEN])));
    expect(ssm.commandCalls(SendCommandCommand).map((c) => [c.args[0].input.DocumentName, c.args[0].input.Parameters!.Stage?.[0], c.args[0].input.MaxErrors])).toEqual([['ApplyDoc', 'AWSPENDING', '0'], ['ApplyDoc', 'AWSPENDING', '0'], ['HealthDoc', undefined, '0']]);
    expect(alerts()).toEqual([]);
    noLeaks();
  });

  it('fails testSecret when a container still holds the old value, and rolls back', async () => {
    // Prepare: setSecret went through, but on one host the container was never recreated
    await rotate(clients, ctx, ev('createSecret'));
    await rotate(clients, ctx, ev('setSecret'));
    staleOn.add(HOSTS[1]!);
    // Act
    const test = rotate(clients, ctx, ev('testSecret'));
    // Assess
    await expect(test).rejects.toThrow(`testSecret failed on ${HOSTS[1]}`);
    expect(current()).toBe(OLD);
    expect(alerts()[0]!.Message).toContain(`${HOSTS[1]}: containers do not hold the new value: web-api-1`);
    noLeaks();
  });

  it('tolerates retries and duplicate invocations of every step', async () => {
    await rotate(clients, ctx, ev('createSecret'));
    await rotate(clients, ctx, ev('createSecret'));
    expect(sm.commandCalls(PutSecretValueCommand)).toHaveLength(1);
    await rotate(clients, ctx, ev('setSecret'));
    await rotate(clients, ctx, ev('setSecret'));
    await rotate(clients, ctx, ev('finishSecret'));
    await expect(rotate(clients, ctx, ev('finishSecret'))).resolves.toMatch(/already AWSCURRENT/);
    expect(sm.commandCalls(UpdateSecretVersionStageCommand)).toHaveLength(1);
  });

  it('reports a stuck AWSPENDING from an earlier failed run instead of overwriting it', async () => {
    versions['v-stuck-2222-2222-2222-222222222222'] = ['AWSPENDING'];
    await expect(rotate(clients, ctx, ev('createSecret'))).rejects.toThrow(/v-stuck-2222-2222-2222-222222222222 is still AWSPENDING/);
    expect(sm.commandCalls(PutSecretValueCommand)).toHaveLength(0);
    expect(alerts()[0]!.Subject).toBe('[CRITICAL] demo/web: rotation of jwt failed at createSecret');
  });

  it('fails when Secrets Manager refuses the new value, before any host is touched, and a retry succeeds', async () => {
    // Prepare
    sm.on(PutSecretValueCommand).rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
    // Act
    const first = rotate(clients, ctx, ev('createSecret'));
    // Assess
    await expect(first).rejects.toThrow(/Rate exceeded/);
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(0);
    expect(current()).toBe(OLD);
    sm.on(PutSecretValueCommand).callsFake(({ ClientRequestToken, SecretString }) => { values[ClientRequestToken] = SecretString; return {}; });
    await expect(rotate(clients, ctx, ev('createSecret'))).resolves.toMatch(/created AWSPENDING/);
  });

  it('fails when SSM cannot send to the stack, and still rolls back and alerts', async () => {
    // Prepare
    await rotate(clients, ctx, ev('createSecret'));
    ssm.on(SendCommandCommand).rejectsOnce(Object.assign(new Error('Invalid document'), { name: 'InvalidDocument' }));
    // Act
    const set = rotate(clients, ctx, ev('setSecret'));
    // Assess
    await expect(set).rejects.toThrow(/setSecret failed on web/);
    expect(alerts()[0]!.Message).toContain('web: Invalid document');
    expect(current()).toBe(OLD);
  });

  it('fails when finishing is refused, leaving AWSCURRENT on the old version for Secrets Manager to retry', async () => {
    // Prepare
    for (const step of ['createSecret', 'setSecret', 'testSecret']) await rotate(clients, ctx, ev(step));
    sm.on(UpdateSecretVersionStageCommand).rejectsOnce(Object.assign(new Error('service unavailable'), { name: 'InternalServiceError' }));
    // Act
    const finish = rotate(clients, ctx, ev('finishSecret'));
    // Assess
    await expect(finish).rejects.toThrow(/service unavailable/);
    expect(current()).toBe(OLD);
  });

  it('rolls every host back and keeps AWSCURRENT when applying fails on one host', async () => {
    await rotate(clients, ctx, ev('createSecret'));
    applyFails.add(HOSTS[1]!);
    await expect(rotate(clients, ctx, ev('setSecret'))).rejects.toThrow(RotationError);
    expect(current()).toBe(OLD);
    expect(holds).toEqual(Object.fromEntries(HOSTS.map((h) => [h, OLD])));
    const [a] = alerts();
    expect(a!.Subject).toBe('[CRITICAL] demo/web: rotation of jwt failed at setSecret');
    expect(a!.Message).toContain(`${HOSTS[1]}: web-api-1 is not running and healthy after the restart`);
    expect(a!.Message).toContain('Rollback: every host has the AWSCURRENT value again');
    expect(a!.MessageAttributes!.severity!.StringValue).toBe('critical');
    // Machine subscribers (SQS, HTTPS) get the same JSON body shape as every other alert.
    expect(JSON.parse(JSON.parse(a!.Message!).sqs)).toMatchObject({ kind: 'firing', severity: 'critical', fleet: 'demo', stack: 'web', secret: 'jwt', summary: 'rotation of jwt failed at setSecret' });
    noLeaks();
  });

  it('rolls back when a host is unhealthy with the new value, and keeps AWSCURRENT', async () => {
    await rotate(clients, ctx, ev('createSecret'));
    await rotate(clients, ctx, ev('setSecret'));
    unhealthyWith = TOKEN;
    await expect(rotate(clients, ctx, ev('testSecret'))).rejects.toThrow(/testSecret failed on i-00000000000000001, i-00000000000000002/);
    expect(current()).toBe(OLD);
    expect(holds).toEqual(Object.fromEntries(HOSTS.map((h) => [h, OLD])));
    expect(alerts()[0]!.Message).toContain('container web-api-1 is exited');
  });

  it('says so loudly when the rollback fails too', async () => {
    await rotate(clients, ctx, ev('createSecret'));
    applyFails.add(HOSTS[0]!);
    rollbackFails = true;
    await expect(rotate(clients, ctx, ev('setSecret'))).rejects.toThrow(RotationError);
    expect(alerts()[0]!.Message).toContain('Rollback FAILED');
    expect(current()).toBe(OLD);
  });

  it('refuses secrets that are not in the fleet, and versions that are not pending', async () => {
    sm.on(DescribeSecretCommand).resolves({ ARN: 'arn:aws:secretsmanager:eu-central-1:111122223333:secret:other-x', Name: 'other', RotationEnabled: true, VersionIdsToStages: { [TOKEN]: ['AWSPENDING'] } });
    await expect(rotate(clients, ctx, ev('createSecret'))).rejects.toThrow(/is not a secret of fleet demo/);
    sm.on(DescribeSecretCommand).resolves({ ARN, Name: NAME, RotationEnabled: true, VersionIdsToStages: { [TOKEN]: [] } });
    await expect(rotate(clients, ctx, ev('setSecret'))).rejects.toThrow(/is not AWSPENDING/);
  });
});

describe('console actions', () => {
  const rotated = () => { versions = { [OLD]: ['AWSPREVIOUS'], [TOKEN]: ['AWSCURRENT'] }; values[TOKEN] = NEW_VALUE; holds = Object.fromEntries(HOSTS.map((h) => [h, TOKEN])); };

  it('rotate-now asks Secrets Manager to rotate the named secret', async () => {
    // Prepare
    sm.on(RotateSecretCommand).resolves({ VersionId: TOKEN });
    // Act
    const said = await operate(clients, ctx, { action: 'rotate-now', secret: 'web/jwt' });
    // Assess
    expect(sm.commandCalls(RotateSecretCommand)[0]!.args[0].input).toEqual({ SecretId: NAME });
    expect(said).toContain(TOKEN);
  });

  it('rollback puts the previous value on every host, checks health, then moves AWSCURRENT back', async () => {
    // Prepare
    rotated();
    // Act
    await operate(clients, ctx, { action: 'rollback', secret: 'web/jwt' });
    // Assess
    expect(holds).toEqual(Object.fromEntries(HOSTS.map((h) => [h, OLD])));
    expect(versions).toEqual({ [OLD]: ['AWSCURRENT'], [TOKEN]: ['AWSPREVIOUS'] });
    expect(Object.values(runs).map((r) => r.document)).toEqual(['ApplyDoc', 'HealthDoc']);
    expect(alerts()[0]!.MessageAttributes!.severity!.StringValue).toBe('info');
    noLeaks();
  });

  it('fails when a host is unhealthy with the previous value: hosts get AWSCURRENT again and nothing moves', async () => {
    // Prepare
    rotated();
    unhealthyWith = OLD;
    // Act
    const done = operate(clients, ctx, { action: 'rollback', secret: 'web/jwt' });
    // Assess
    await expect(done).rejects.toThrow(/rollback of web\/jwt failed on i-00000000000000001, i-00000000000000002/);
    expect(versions).toEqual({ [OLD]: ['AWSPREVIOUS'], [TOKEN]: ['AWSCURRENT'] });
    expect(holds).toEqual(Object.fromEntries(HOSTS.map((h) => [h, TOKEN])));
    expect(alerts()[0]!.Message).toContain('Every host has the AWSCURRENT value again');
    noLeaks();
  });

  it('fails when there is nothing to roll back to, or a rotation is under way, or the secret is unknown', async () => {
    await expect(operate(clients, ctx, { action: 'rollback', secret: 'web/jwt' })).rejects.toThrow(/has no previous version/);
    versions = { [OLD]: ['AWSCURRENT'], [TOKEN]: ['AWSPENDING'], v2: ['AWSPREVIOUS'] };
    await expect(operate(clients, ctx, { action: 'rollback', secret: 'web/jwt' })).rejects.toThrow(/is being rotated/);
    await expect(operate(clients, ctx, { action: 'rollback', secret: 'web/nope' })).rejects.toThrow(/known: web\/jwt/);
    await expect(operate(clients, ctx, { action: 'rollback', secret: 'web/jwt; rm -rf /' })).rejects.toThrow(/expected <stack>\/<secret>/);
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(0);
  });
});

describe('secret ages', () => {
  it('reports days since the last rotation, or since creation when never rotated', async () => {
    // Prepare
    const two = demoFleet((f) => {
      f.stacks[0]!.secrets = [{ name: 'jwt', envFile: '/opt/web/.env', variable: 'JWT_SECRET', rotationDays: 30 }, { name: 'hmac', envFile: '/opt/web/.env', variable: 'HMAC', rotationDays: 7 }];
    });
    sm.on(DescribeSecretCommand, { SecretId: 'shipshape/demo/web/jwt' }).resolves({ CreatedDate: new Date('2026-01-01T00:00:00Z'), LastRotatedDate: new Date('2026-11-01T12:00:00Z') });
    sm.on(DescribeSecretCommand, { SecretId: 'shipshape/demo/web/hmac' }).resolves({ CreatedDate: new Date('2026-11-20T00:00:00Z') });
    // Act
    const out = await secretAges(clients, { fleet: two }, new Date('2026-11-21T00:00:00Z'));
    // Assess
    expect(out).toEqual({ ages: [{ secret: 'web/jwt', ageDays: 19.5, rotationDays: 30 }, { secret: 'web/hmac', ageDays: 1, rotationDays: 7 }], errors: [] });
  });

  it('fails loudly for a secret it cannot describe, and still reports the others', async () => {
    const two = demoFleet((f) => {
      f.stacks[0]!.secrets = [{ name: 'jwt', envFile: '/opt/web/.env', variable: 'JWT_SECRET' }, { name: 'hmac', envFile: '/opt/web/.env', variable: 'HMAC' }];
    });
    sm.on(DescribeSecretCommand, { SecretId: 'shipshape/demo/web/jwt' }).rejects(Object.assign(new Error('secret not found'), { name: 'ResourceNotFoundException' }));
    sm.on(DescribeSecretCommand, { SecretId: 'shipshape/demo/web/hmac' }).resolves({ CreatedDate: new Date('2026-11-20T00:00:00Z') });
    const out = await secretAges(clients, { fleet: two }, new Date('2026-11-21T00:00:00Z'));
    expect(out.errors).toEqual(['web/jwt: secret not found']);
    expect(out.ages.map((a) => a.secret)).toEqual(['web/hmac']);
  });
});

describe('generators', () => {
  const secretWith = (generator: Record<string, unknown>) => demoFleet((f) => {
    f.stacks[0]!.secrets = [{ name: 'k', file: '/opt/web/k.json', generator }];
  }).stacks[0]!.secrets[0]!;

  it('makes a JSON object with one random value per key', () => {
    const v = JSON.parse(newValue(secretWith({ json: { signing: {}, encryption: { bytes: 16, encoding: 'base64' } } }), (n) => Buffer.alloc(n, 1)));
    expect(v).toEqual({ signing: '01'.repeat(32), encryption: Buffer.alloc(16, 1).toString('base64') });
  });

  it.each(['ES256', 'EdDSA'] as const)('makes a %s key pair whose kid is the RFC 7638 thumbprint and whose keys sign and verify', (algorithm) => {
    // Act
    const one = JSON.parse(newValue(secretWith({ keyPair: { algorithm } })));
    const two = JSON.parse(newValue(secretWith({ keyPair: { algorithm } })));
    // Assess
    const pub = one.publicJwk;
    const members = pub.kty === 'EC' ? { crv: pub.crv, kty: pub.kty, x: pub.x, y: pub.y } : { crv: pub.crv, kty: pub.kty, x: pub.x };
    expect(one.kid).toBe(createHash('sha256').update(JSON.stringify(members)).digest('base64url'));
    expect([one.alg, one.privateJwk.kid, pub.kid]).toEqual([algorithm, one.kid, one.kid]);
    expect(pub.d).toBeUndefined();
    const data = Buffer.from('token payload');
    const hash = algorithm === 'ES256' ? 'sha256' : null;
    const signature = sign(hash, data, createPrivateKey({ key: one.privateJwk, format: 'jwk' }));
    expect(verify(hash, data, createPublicKey({ key: pub, format: 'jwk' }), signature)).toBe(true);
    expect(verify(hash, data, createPublicKey({ key: two.publicJwk, format: 'jwk' }), signature)).toBe(false);
    expect(two.kid).not.toBe(one.kid);
  });
});
