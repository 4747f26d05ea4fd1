/**
 * The rotation function's logic against one in-memory Secrets Manager (test/support/fake-secrets.ts)
 * and a simulated SSM (sim-ssm.ts) with as many hosts as a test needs: the four steps, rollbacks
 * and their alerts, paging, output read from S3, steps that run out of time and resume, and the
 * console actions and the hourly sweep.
 */
import { PutSecretValueCommand, RotateSecretCommand, UpdateSecretVersionStageCommand } from '@aws-sdk/client-secrets-manager';
import { S3Client } from '@aws-sdk/client-s3';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { CancelCommandCommand, GetCommandInvocationCommand, SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { createHash, createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { operate } from '../../../lambdas/rotation/operate.js';
import { GRACE_ENDED_LABEL, newValue, ROLLED_BACK_LABEL, rotate, RotationError, StepNotFinished, versionRunId, type RotationContext } from '../../../lambdas/rotation/rotate.js';
import { FakeSecretsManager } from '../../support/fake-secrets.js';
import { demoFleet } from '../../support/fleets.js';
import { healthyWebResult } from '../../support/results.js';
import { SimSsm, type HostOutput } from './sim-ssm.js';

const fleet = demoFleet((f) => {
  f.stacks[0]!.secrets = [{ name: 'jwt', envFile: '/opt/web/.env', variable: 'JWT_SECRET', previousVariable: 'JWT_SECRET_PREVIOUS', restart: ['api'], graceDays: 7 }];
});
const NAME = 'shipshape/demo/web/jwt';
const ARN = `arn:aws:secretsmanager:eu-central-1:111122223333:secret:${NAME}-AbCdEf`;
const OLD = 'v-old-0000-0000-0000-000000000000';
const TOKEN = 'v-new-1111-1111-1111-111111111111';
const OLD_VALUE = 'cd'.repeat(32);
const NEW_VALUE = 'ab'.repeat(32);
const hostIds = (n: number) => Array.from({ length: n }, (_, i) => `i-${String(i + 1).padStart(17, '0')}`);

/** What each host holds (version), and how its runs go. */
let holds: Record<string, string>;
let applyFails: Set<string>;
let unhealthyWith: string | undefined;
let rollbackFails: boolean;
/** Hosts whose containers still hold the old value when apply-secret verifies. */
let staleOn: Set<string>;
/** Containers each apply-secret result lists (a host with many services prints a long result). */
let containersPerHost: number;
/** Hosts that still hold the previous value after secret-grace. */
let graceStuck: Set<string>;

const sm = new FakeSecretsManager();
const sns = mockClient(SNSClient);
const sim = new SimSsm(hostIds(2), hostRun);
afterAll(() => { sm.restore(); sns.restore(); sim.ssm.restore(); sim.s3.restore(); });
const clients = { sm: sm.client, ssm: new SSMClient({}), sns: new SNSClient({}), s3: new S3Client({}) };
let remaining = Number.POSITIVE_INFINITY;
const ctx: RotationContext = {
  fleet, documents: { 'apply-secret': 'ApplyDoc', 'health-check': 'HealthDoc', 'secret-grace': 'GraceDoc' }, outputBucket: 'out', topicArn: 'arn:aws:sns:eu-central-1:111122223333:alerts',
  clock: { remainingMs: () => remaining, sleep: async (ms: number) => { remaining -= ms; } }, pollMs: 1000, reserveMs: 30_000, random: (n: number) => Buffer.alloc(n, 0xab),
};
const ev = (Step: string, token = TOKEN) => ({ SecretId: ARN, ClientRequestToken: token, Step });

function hostRun(document: string, p: Record<string, string>, host: string): HostOutput {
  if (document === 'ApplyDoc') {
    const stage = p.Stage!;
    const failing = stage === 'AWSCURRENT' ? rollbackFails : applyFails.has(host);
    const version = sm.holder(ARN, stage)!;
    const stale = staleOn.has(host) && stage === 'AWSPENDING';
    if (!failing) holds[host] = version;
    const containers = Array.from({ length: containersPerHost }, (_, i) => ({ container: `web-svc${i}-1`, service: `svc${i}`, delivery: 'recreate', matches: !(stale && i === 0), state: 'running', health: 'healthy', problem: null }));
    return { stdout: JSON.stringify({ schema: 'shipshape.apply-secret/1', stack: 'web', runId: p.RunId, hostname: host, host, startedAt: 'x', durationMs: 1, secret: 'jwt', stage, file: '/opt/web/.env', delivery: 'recreate', changed: false, restarts: [],
      verified: !failing && !stale, containers, errors: failing ? ['web-api-1 is not running and healthy after taking the secret (exited, none)'] : stale ? ['web-svc0-1 does not hold the AWSPENDING value'] : [] }) };
  }
  if (document === 'GraceDoc') {
    const still = graceStuck.has(host);
    return { stdout: JSON.stringify({ schema: 'shipshape.secret-grace/1', stack: 'web', runId: p.RunId, hostname: host, host, startedAt: 'x', durationMs: 1, secret: 'jwt', graceEnded: p.GraceEnded, previous: 'JWT_SECRET_PREVIOUS in /opt/web/.env', changed: true, restarts: [],
      verified: !still, containers: [{ container: 'web-api-1', service: 'api', holdsPrevious: still, state: 'running', health: 'healthy' }], errors: still ? ['web-api-1 still holds the previous value'] : [] }) };
  }
  const h = healthyWebResult();
  if (unhealthyWith && holds[host] === unhealthyWith) h.containers[0]!.state = 'exited';
  return { stdout: JSON.stringify(h) };
}

beforeEach(() => {
  sm.reset();
  sm.now = () => new Date();
  sm.add({ arn: ARN, name: NAME, values: { [OLD]: OLD_VALUE } });
  // As RotateSecret leaves it before calling createSecret.
  sm.startRotation(ARN, TOKEN);
  sns.reset();
  sns.on(PublishCommand).resolves({ MessageId: 'm' });
  sim.hosts = hostIds(2);
  sim.reset();
  holds = Object.fromEntries(sim.hosts.map((h) => [h, OLD]));
  applyFails = new Set();
  unhealthyWith = undefined;
  rollbackFails = false;
  staleOn = new Set();
  containersPerHost = 1;
  graceStuck = new Set();
  remaining = Number.POSITIVE_INFINITY;
});

const current = () => sm.holder(ARN, 'AWSCURRENT');
const alerts = () => sns.commandCalls(PublishCommand).map((c) => c.args[0].input);
const critical = () => alerts().filter((a) => a.MessageAttributes!.severity!.StringValue === 'critical');
const everyHost = (version: string) => Object.fromEntries(sim.hosts.map((h) => [h, version]));
function noLeaks() {
  for (const v of sm.allValues()) {
    expect(JSON.stringify(alerts())).not.toContain(v);
    expect(JSON.stringify(sim.ssm.calls().map((c) => c.args[0].input))).not.toContain(v);
  }
}
const rotateThrough = async (steps: string[]) => { for (const step of steps) await rotate(clients, ctx, ev(step)); };

describe('rotation', () => {
  it('runs the four steps: new value pending, applied and verified on every host, then current, with the grace period in the message', async () => {
    // Act
    await rotateThrough(['createSecret', 'setSecret', 'testSecret', 'finishSecret']);
    // Assess
    expect(sm.value(ARN, TOKEN)).toBe(NEW_VALUE);
    expect(current()).toBe(TOKEN);
    expect(sm.versions(ARN)[OLD]).toEqual(['AWSPREVIOUS']);
    expect(holds).toEqual(everyHost(TOKEN));
    expect(sim.sent()).toEqual(['ApplyDoc AWSPENDING', 'ApplyDoc AWSPENDING', 'HealthDoc']);
    expect(sim.commands.map((c) => c.input.Comment)).toEqual([`shipshape web apply-secret ${versionRunId('set', TOKEN)}`, `shipshape web apply-secret ${versionRunId('tst', TOKEN)}`, `shipshape web health-check ${versionRunId('chk', TOKEN)}`]);
    expect(sim.commands.every((c) => c.input.MaxErrors === '0')).toBe(true);
    expect(critical()).toEqual([]);
    expect(alerts()[0]!.Subject).toBe('[INFO] demo/web: jwt rotated');
    expect(alerts()[0]!.Message).toMatch(/previous value stays valid \(JWT_SECRET_PREVIOUS in \/opt\/web\/.env\) until \d{4}-\d\d-\d\dT\d\d:\d\dZ \(graceDays 7\)/);
    noLeaks();
  });

  it('checks all 120 hosts of a stack over 3 pages of invocations, and rolls back when the last page has a failure', async () => {
    // Prepare
    sim.hosts = hostIds(120);
    holds = everyHost(OLD);
    await rotate(clients, ctx, ev('createSecret'));
    applyFails.add(sim.hosts[119]!);
    // Act
    const set = rotate(clients, ctx, ev('setSecret'));
    // Assess
    await expect(set).rejects.toThrow(`setSecret failed on ${sim.hosts[119]}`);
    const pages = sim.invocationPages.filter((p) => p.CommandId === sim.commands[0]!.id);
    expect(pages.map((p) => p.NextToken)).toEqual([undefined, '50', '100']);
    expect(new Set(sim.ssm.commandCalls(GetCommandInvocationCommand).filter((c) => c.args[0].input.CommandId === sim.commands[0]!.id).map((c) => c.args[0].input.InstanceId)).size).toBe(120);
    expect(holds).toEqual(everyHost(OLD));
    expect(current()).toBe(OLD);
    expect(critical()[0]!.Message).toContain(`${sim.hosts[119]}: web-api-1 is not running and healthy`);
  });

  it('passes testSecret on 120 hosts only after reading every one', async () => {
    // Prepare
    sim.hosts = hostIds(120);
    holds = everyHost(OLD);
    // Act
    await rotateThrough(['createSecret', 'setSecret', 'testSecret', 'finishSecret']);
    // Assess
    expect(holds).toEqual(everyHost(TOKEN));
    expect(current()).toBe(TOKEN);
    expect(sim.ssm.commandCalls(GetCommandInvocationCommand)).toHaveLength(3 * 120);
  });

  it('reads a host result over 24,000 characters from the S3 copy (a host with 200 containers)', async () => {
    // Prepare
    containersPerHost = 200;
    await rotateThrough(['createSecret', 'setSecret']);
    staleOn.add(sim.hosts[1]!);
    expect(sim.commands[0]!.outputs.get(sim.hosts[0]!)!.stdout.length).toBeGreaterThan(24_000);
    // Act
    const test = rotate(clients, ctx, ev('testSecret'));
    // Assess: the stale container is found although the inline copy is cut
    await expect(test).rejects.toThrow(`testSecret failed on ${sim.hosts[1]}`);
    expect(sim.s3.commandCalls(GetObjectCommand).map((c) => c.args[0].input.Bucket)).toContain('out');
    expect(critical()[0]!.Message).toContain(`${sim.hosts[1]}: containers do not hold the new value: web-svc0-1`);
  });

  it('fails testSecret when a container still holds the old value, rolls back, and labels the version', async () => {
    // Prepare: setSecret went through, but on one host a container was never recreated
    await rotateThrough(['createSecret', 'setSecret']);
    staleOn.add(sim.hosts[1]!);
    // Act
    const test = rotate(clients, ctx, ev('testSecret'));
    // Assess
    await expect(test).rejects.toThrow(`testSecret failed on ${sim.hosts[1]}`);
    expect(current()).toBe(OLD);
    expect(critical()[0]!.Message).toContain(`${sim.hosts[1]}: containers do not hold the new value: web-svc0-1`);
    // The next rotation can start: the failed version is no longer AWSPENDING.
    expect(sm.versions(ARN)[TOKEN]).toEqual([ROLLED_BACK_LABEL]);
    noLeaks();
  });

  it('fails at once, without touching hosts or alerting again, when Secrets Manager retries a rolled-back rotation', async () => {
    // Prepare
    await rotate(clients, ctx, ev('createSecret'));
    applyFails.add(sim.hosts[0]!);
    await expect(rotate(clients, ctx, ev('setSecret'))).rejects.toThrow(RotationError);
    const sent = sim.commands.length;
    // Act
    const retried = rotate(clients, ctx, ev('createSecret'));
    // Assess
    await expect(retried).rejects.toThrow(/failed earlier and was rolled back/);
    expect(sim.commands).toHaveLength(sent);
    expect(alerts()).toHaveLength(1);
  });

  it('resumes a step that ran out of time: the next invocation finds its commands by the version in the comment, sends nothing twice, and the rotation finishes', async () => {
    // Prepare: hosts take longer than the invocation has left
    await rotate(clients, ctx, ev('createSecret'));
    sim.slowPolls = 20;
    remaining = 40_000;
    // Act
    const first = rotate(clients, ctx, ev('setSecret'));
    // Assess
    await expect(first).rejects.toThrow(StepNotFinished);
    await expect(first).rejects.toThrow(/0 of 1 commands finished; waiting resumes/);
    expect(sim.commands).toHaveLength(1);
    expect(alerts()).toEqual([]);
    // Secrets Manager retries the rotation with a fresh invocation.
    remaining = Number.POSITIVE_INFINITY;
    await rotate(clients, ctx, ev('createSecret'));
    await rotate(clients, ctx, ev('setSecret'));
    expect(sim.ssm.commandCalls(SendCommandCommand)).toHaveLength(1);
    sim.slowPolls = 0;
    await rotateThrough(['testSecret', 'finishSecret']);
    expect(current()).toBe(TOKEN);
    expect(holds).toEqual(everyHost(TOKEN));
  });

  it('ends a step whose hosts never finish in a rollback and an alert: past SSM\'s bounds the command is cancelled', async () => {
    // Prepare: a host that never reports; the clock runs past delivery + execution timeout
    await rotate(clients, ctx, ev('createSecret'));
    sim.slowPolls = Number.POSITIVE_INFINITY;
    remaining = 40_000;
    await expect(rotate(clients, ctx, ev('setSecret'))).rejects.toThrow(StepNotFinished);
    remaining = Number.POSITIVE_INFINITY;
    const later = Date.now() + 6 * 3_600_000;
    sim.slowPolls = 0;
    // Act
    const retried = rotate(clients, { ...ctx, clock: { ...ctx.clock, now: () => later } }, ev('setSecret'));
    // Assess
    await expect(retried).rejects.toThrow(/setSecret failed on/);
    expect(sim.ssm.commandCalls(CancelCommandCommand).map((c) => c.args[0].input.CommandId)).toEqual([sim.commands[0]!.id]);
    expect(critical()[0]!.Message).toContain('apply-secret ended Cancelled');
    expect(critical()[0]!.Message).toContain('Rollback: every host has the AWSCURRENT value again');
    expect(current()).toBe(OLD);
    expect(holds).toEqual(everyHost(OLD));
  });

  it('waits for another secret operation on the same stack before sending (rotate-all starts several), then goes on', async () => {
    // Prepare: jwt's setSecret is still running on the hosts when hmac's starts
    const two = demoFleet((f) => {
      f.stacks[0]!.secrets = [{ name: 'jwt', envFile: '/opt/web/.env', variable: 'JWT_SECRET', restart: ['api'] }, { name: 'hmac', envFile: '/opt/web/.env', variable: 'HMAC', restart: ['api'] }];
    });
    const HMAC = 'arn:aws:secretsmanager:eu-central-1:111122223333:secret:shipshape/demo/web/hmac-XyZabc';
    const HMAC_TOKEN = 'v-hmac-2222-2222-2222-222222222222';
    sm.add({ arn: HMAC, name: 'shipshape/demo/web/hmac', values: { h0: 'ef'.repeat(32) } });
    sm.startRotation(HMAC, HMAC_TOKEN);
    const both = { ...ctx, fleet: two };
    await rotate(clients, both, ev('createSecret'));
    sim.slowPolls = 20;
    remaining = 40_000;
    await expect(rotate(clients, both, ev('setSecret'))).rejects.toThrow(StepNotFinished);
    await rotate(clients, both, { SecretId: HMAC, ClientRequestToken: HMAC_TOKEN, Step: 'createSecret' });
    // Act
    remaining = 40_000;
    const blocked = rotate(clients, both, { SecretId: HMAC, ClientRequestToken: HMAC_TOKEN, Step: 'setSecret' });
    // Assess
    await expect(blocked).rejects.toThrow(`waiting for shipshape web apply-secret ${versionRunId('set', TOKEN)}`);
    expect(sim.commands).toHaveLength(1);
    // jwt's step ends (its own retry sees the hosts finish), then hmac's goes ahead.
    remaining = Number.POSITIVE_INFINITY;
    await rotate(clients, both, ev('setSecret'));
    await rotate(clients, both, { SecretId: HMAC, ClientRequestToken: HMAC_TOKEN, Step: 'setSecret' });
    expect(sim.commands.map((c) => c.input.Comment)).toEqual([`shipshape web apply-secret ${versionRunId('set', TOKEN)}`, `shipshape web apply-secret ${versionRunId('set', HMAC_TOKEN)}`]);
    expect(sim.commands[0]!.status).toBe('Success');
  });

  it('tolerates retries and duplicate invocations of every step', async () => {
    await rotateThrough(['createSecret', 'createSecret']);
    expect(sm.mock.commandCalls(PutSecretValueCommand)).toHaveLength(1);
    await rotateThrough(['setSecret', 'setSecret', 'testSecret', 'testSecret']);
    expect(sim.commands).toHaveLength(3);
    await rotate(clients, ctx, ev('finishSecret'));
    await expect(rotate(clients, ctx, ev('finishSecret'))).resolves.toMatch(/already AWSCURRENT/);
    expect(sm.mock.commandCalls(UpdateSecretVersionStageCommand)).toHaveLength(1);
  });

  it('fails when Secrets Manager refuses the new value, before any host is touched, and a retry succeeds', async () => {
    // Prepare
    let throttled = false;
    const flaky = { ...clients, sm: { send: (cmd: unknown) => {
      if (cmd instanceof PutSecretValueCommand && !throttled) { throttled = true; return Promise.reject(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' })); }
      return sm.client.send(cmd as never);
    } } as never };
    // Act
    const first = rotate(flaky, ctx, ev('createSecret'));
    // Assess
    await expect(first).rejects.toThrow(/Rate exceeded/);
    expect(sim.commands).toHaveLength(0);
    expect(current()).toBe(OLD);
    await expect(rotate(flaky, ctx, ev('createSecret'))).resolves.toMatch(/created AWSPENDING/);
  });

  it('fails when SSM cannot send to the stack, and still rolls back and alerts', async () => {
    // Prepare
    await rotate(clients, ctx, ev('createSecret'));
    sim.ssm.on(SendCommandCommand).rejectsOnce(Object.assign(new Error('Invalid document'), { name: 'InvalidDocument' }));
    // Act
    const set = rotate(clients, ctx, ev('setSecret'));
    // Assess
    await expect(set).rejects.toThrow(/setSecret failed on web/);
    expect(critical()[0]!.Message).toContain('web: Invalid document');
    expect(current()).toBe(OLD);
  });

  it('rolls every host back and keeps AWSCURRENT when applying fails on one host', async () => {
    await rotate(clients, ctx, ev('createSecret'));
    applyFails.add(sim.hosts[1]!);
    await expect(rotate(clients, ctx, ev('setSecret'))).rejects.toThrow(RotationError);
    expect(current()).toBe(OLD);
    expect(holds).toEqual(everyHost(OLD));
    const [a] = critical();
    expect(a!.Subject).toBe('[CRITICAL] demo/web: rotation of jwt failed at setSecret');
    expect(a!.Message).toContain(`${sim.hosts[1]}: web-api-1 is not running and healthy`);
    expect(a!.Message).toContain('Rollback: every host has the AWSCURRENT value again');
    expect(JSON.parse(JSON.parse(a!.Message!).sqs)).toMatchObject({ kind: 'firing', severity: 'critical', fleet: 'demo', stack: 'web', secret: 'jwt', summary: 'rotation of jwt failed at setSecret' });
    noLeaks();
  });

  it('rolls back when a host is unhealthy with the new value, and keeps AWSCURRENT', async () => {
    await rotateThrough(['createSecret', 'setSecret']);
    unhealthyWith = TOKEN;
    await expect(rotate(clients, ctx, ev('testSecret'))).rejects.toThrow(`testSecret failed on ${sim.hosts.join(', ')}`);
    expect(current()).toBe(OLD);
    expect(holds).toEqual(everyHost(OLD));
    expect(critical()[0]!.Message).toContain('container web-api-1 is exited');
  });

  it('says so loudly when the rollback fails too, and keeps the version AWSPENDING', async () => {
    await rotate(clients, ctx, ev('createSecret'));
    applyFails.add(sim.hosts[0]!);
    rollbackFails = true;
    await expect(rotate(clients, ctx, ev('setSecret'))).rejects.toThrow(RotationError);
    expect(critical()[0]!.Message).toContain('Rollback FAILED');
    expect(current()).toBe(OLD);
    expect(sm.versions(ARN)[TOKEN]).toEqual(['AWSPENDING', ROLLED_BACK_LABEL]);
  });

  it('refuses versions that are not pending', async () => {
    await expect(rotate(clients, ctx, ev('setSecret', 'v-none-0000-0000-0000-000000000000'))).rejects.toThrow(/has no version/);
    expect(sim.commands).toHaveLength(0);
  });
});

describe('console actions', () => {
  const rotated = async () => {
    await rotateThrough(['createSecret', 'setSecret', 'testSecret', 'finishSecret']);
    sns.resetHistory();
    sim.reset();
  };

  it('rotate-now asks Secrets Manager to rotate the named secret', async () => {
    // Prepare
    await rotated();
    // Act
    const said = await operate(clients, ctx, { action: 'rotate-now', secret: 'web/jwt' });
    // Assess
    expect(sm.mock.commandCalls(RotateSecretCommand)[0]!.args[0].input).toEqual({ SecretId: NAME });
    expect(said).toMatch(/rotation of web\/jwt started \(version v-rot-/);
  });

  it('rotate-all starts a rotation of every secret of the fleet and reports each, failing when one could not start', async () => {
    // Prepare: two stacks' secrets; one is still being rotated
    const two = demoFleet((f) => {
      f.stacks[0]!.secrets = [{ name: 'jwt', envFile: '/opt/web/.env', variable: 'JWT_SECRET' }, { name: 'hmac', envFile: '/opt/web/.env', variable: 'HMAC' }];
      f.stacks[1]!.secrets = [{ name: 'key', file: '/opt/b/key' }];
    });
    sm.add({ arn: 'arn:aws:secretsmanager:eu-central-1:111122223333:secret:shipshape/demo/web/hmac-XyZabc', name: 'shipshape/demo/web/hmac', values: { h1: 'x' } });
    const other = `shipshape/demo/${two.stacks[1]!.name}/key`;
    sm.add({ arn: `arn:aws:secretsmanager:eu-central-1:111122223333:secret:${other}-QwErTy`, name: other, values: { k1: 'y' } });
    // Act
    const all = operate(clients, { ...ctx, fleet: two }, { action: 'rotate-all', stack: '*' });
    // Assess
    const report = await all.catch((e: Error) => e.message);
    expect(report.split('\n')).toEqual([
      'rotate-all *: 2 of 3 rotations started; each ends in a message (done) or a critical alert (rolled back).',
      expect.stringMatching(/^web\/jwt: NOT started: A previous rotation isn't complete/),
      expect.stringMatching(new RegExp(`^${two.stacks[1]!.name}/key: rotation started`)),
      expect.stringMatching(/^web\/hmac: rotation started \(version v-rot-/),
    ]);
    await expect(all).rejects.toThrow(RotationError);
  });

  it('adopt applies AWSCURRENT on every host and verifies every container, changing nothing in Secrets Manager', async () => {
    // Prepare: a fresh deploy, never rotated
    sm.reset();
    sm.add({ arn: ARN, name: NAME, values: { [OLD]: OLD_VALUE } });
    holds = everyHost('nothing');
    // Act
    const said = await operate(clients, ctx, { action: 'adopt', secret: 'web/*', runId: 'e1b2c3d4-0000-0000-0000-000000000000' });
    // Assess
    expect(said).toBe(`web/jwt: every container of every host holds AWSCURRENT (${OLD}); ready to rotate`);
    expect(holds).toEqual(everyHost(OLD));
    expect(sim.sent()).toEqual(['ApplyDoc AWSCURRENT']);
    expect(sm.mock.commandCalls(UpdateSecretVersionStageCommand)).toHaveLength(0);
  });

  it('fails adopt naming the hosts whose containers do not hold the value', async () => {
    sm.reset();
    sm.add({ arn: ARN, name: NAME, values: { [OLD]: OLD_VALUE } });
    rollbackFails = true;
    await expect(operate(clients, ctx, { action: 'adopt', secret: 'web/jwt' })).rejects.toThrow(`web/jwt: NOT adopted: ${sim.hosts[0]}: web-api-1 is not running`);
  });

  it('rollback puts the previous value on every host, checks health, then moves AWSCURRENT back', async () => {
    // Prepare
    await rotated();
    // Act
    await operate(clients, ctx, { action: 'rollback', secret: 'web/jwt' });
    // Assess
    expect(holds).toEqual(everyHost(OLD));
    expect(current()).toBe(OLD);
    expect(sm.holder(ARN, 'AWSPREVIOUS')).toBe(TOKEN);
    expect(sim.sent()).toEqual(['ApplyDoc AWSPREVIOUS', 'HealthDoc']);
    expect(alerts()[0]!.MessageAttributes!.severity!.StringValue).toBe('info');
    noLeaks();
  });

  it('fails when a host is unhealthy with the previous value: hosts get AWSCURRENT again and nothing moves', async () => {
    // Prepare
    await rotated();
    unhealthyWith = OLD;
    // Act
    const done = operate(clients, ctx, { action: 'rollback', secret: 'web/jwt' });
    // Assess
    await expect(done).rejects.toThrow(`rollback of web/jwt failed on ${sim.hosts.join(', ')}`);
    expect(current()).toBe(TOKEN);
    expect(holds).toEqual(everyHost(TOKEN));
    expect(critical()[0]!.Message).toContain('Every host has the AWSCURRENT value again');
  });

  it('fails when there is nothing to roll back to, or a rotation is under way, or the secret is unknown', async () => {
    await expect(operate(clients, ctx, { action: 'rollback', secret: 'web/jwt' })).rejects.toThrow(/has no previous version/);
    await expect(operate(clients, ctx, { action: 'rollback', secret: 'web/nope' })).rejects.toThrow(/known: web\/jwt/);
    await expect(operate(clients, ctx, { action: 'rollback', secret: 'web/jwt; rm -rf /' })).rejects.toThrow(/expected <stack>\/<secret>/);
    expect(sim.commands).toHaveLength(0);
  });
});

describe('hourly sweep', () => {
  const rotatedAt = (at: Date) => async () => {
    sm.now = () => at;
    await rotateThrough(['createSecret', 'setSecret', 'testSecret', 'finishSecret']);
    sm.now = () => new Date();
    sns.resetHistory();
    sim.reset();
  };

  it('ends a grace period that is over: secret-grace on every host, verified, then the previous version labelled', async () => {
    // Prepare: rotated 8 days ago, graceDays 7
    await rotatedAt(new Date(Date.now() - 8 * 86_400_000))();
    // Act
    const said = await operate(clients, ctx, { action: 'sweep' });
    // Assess
    expect(sim.sent()).toEqual(['GraceDoc']);
    expect(sim.commands[0]!.input.Parameters).toMatchObject({ Secret: ['jwt'], GraceEnded: [expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\dZ$/)] });
    expect(said).toMatch(/web\/jwt: grace period ended .*; the previous value is gone from 2 host\(s\), verified/);
    expect(sm.versions(ARN)[OLD]).toEqual(['AWSPREVIOUS', GRACE_ENDED_LABEL]);
    // Done once: the next sweep leaves it alone.
    await operate(clients, ctx, { action: 'sweep' });
    expect(sim.commands).toHaveLength(1);
  });

  it('leaves the previous value while the grace period lasts', async () => {
    await rotatedAt(new Date(Date.now() - 2 * 86_400_000))();
    await expect(operate(clients, ctx, { action: 'sweep' })).resolves.toBe('sweep: 0 action(s), 0 error(s)');
    expect(sim.commands).toHaveLength(0);
  });

  it('does not label the version when a container still holds the previous value, and says where', async () => {
    await rotatedAt(new Date(Date.now() - 8 * 86_400_000))();
    graceStuck.add(sim.hosts[1]!);
    const said = await operate(clients, ctx, { action: 'sweep' });
    expect(said).toContain(`the previous value is still on ${sim.hosts[1]} (containers still hold the previous value: web-api-1)`);
    expect(sm.versions(ARN)[OLD]).toEqual(['AWSPREVIOUS']);
  });

  it('rolls back a rotation Secrets Manager abandoned half way, alerts, and frees the next rotation', async () => {
    // Prepare: AWSPENDING applied on the hosts 30 hours ago, never finished
    sm.reset();
    sm.now = () => new Date(Date.now() - 30 * 3_600_000);
    sm.add({ arn: ARN, name: NAME, values: { [OLD]: OLD_VALUE } });
    sm.startRotation(ARN, TOKEN);
    await rotateThrough(['createSecret', 'setSecret']);
    sm.now = () => new Date();
    // Act
    const said = await operate(clients, ctx, { action: 'sweep' });
    // Assess
    expect(said).toContain(`web/jwt: abandoned rotation ${TOKEN} rolled back`);
    expect(holds).toEqual(everyHost(OLD));
    expect(critical()[0]!.Subject).toBe('[CRITICAL] demo/web: rotation of jwt abandoned');
    expect(sm.versions(ARN)[TOKEN]).toEqual([ROLLED_BACK_LABEL]);
  });
});

describe('graceDays in the config', () => {
  it('fails when graceDays has no previous value to keep, or outlasts the next rotation', () => {
    // Act
    const without = () => demoFleet((f) => { f.stacks[0]!.secrets = [{ name: 'jwt', envFile: '/opt/web/.env', variable: 'JWT_SECRET', graceDays: 7 }]; });
    const longer = () => demoFleet((f) => { f.stacks[0]!.secrets = [{ name: 'jwt', file: '/opt/web/k', previousFile: '/opt/web/k.old', graceDays: 30, rotationDays: 30 }]; });
    // Assess
    expect(without).toThrow(/graceDays.*needs previousVariable \(envFile\) or previousFile/);
    expect(longer).toThrow(/graceDays.*must be shorter than rotationDays \(30\)/);
    expect(fleet.stacks[0]!.secrets[0]!.graceDays).toBe(7);
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
