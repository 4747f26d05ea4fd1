/**
 * Secrets Manager rotation in its four steps, idempotent, resumable and safe to retry:
 *   createSecret  a new value as AWSPENDING (kept if it already exists for this token)
 *   setSecret     every host of the stack applies AWSPENDING (apply-secret document)
 *   testSecret    every container of every host holds the new value (apply-secret's per-container
 *                 hash check, run again) and every host passes its health check
 *   finishSecret  AWSCURRENT moves to the new version (AWSPREVIOUS follows); an info message says
 *                 until when the previous value stays valid (graceDays)
 * The host runs are named by the version (runId set-/tst-/chk-/rbk-<version>), so a step that runs
 * out of time throws StepNotFinished and the next invocation (Secrets Manager retries the
 * rotation) resumes it without sending anything twice. When set or test fails, the hosts get
 * AWSCURRENT back, a critical alert says what failed, where, and whether the rollback worked, the
 * version is labelled shipshape-rolled-back (and loses AWSPENDING when the rollback worked, so the
 * next rotation can start), and the step fails: AWSCURRENT never moves. Retries of a rolled-back
 * version fail at once without touching hosts or alerting again.
 */
import {
  DescribeSecretCommand, GetSecretValueCommand, PutSecretValueCommand, UpdateSecretVersionStageCommand, type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type { S3Client } from '@aws-sdk/client-s3';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import * as z from 'zod';
import type { AppSecret, Fleet, Stack } from '../../lib/config/schema.js';
import { HealthResult } from '../../lib/results/health.js';
import { failing } from '../../lib/results/findings.js';
import { SECRET_GRACE_END } from '../../lib/results/secret-grace.js';
import { APPLY_SECRET, HEALTH_CHECK, secretName } from '../../lib/runbooks/names.js';
import { evaluateHealth } from '../result/evaluate-health.js';
import { extractJson } from '../result/invocation.js';
import { parseOrThrow } from '../shared/errors.js';
import { clip, snsMessage, SUBJECT_LIMIT } from '../shared/sns-message.js';
import { runOnStack, StepNotFinished, type HostRun, type RunClock } from './commands.js';

export { StepNotFinished };

export const RotationEvent = z.object({
  SecretId: z.string().min(1).max(2048),
  ClientRequestToken: z.string().regex(/^[A-Za-z0-9-]{32,64}$/),
  Step: z.enum(['createSecret', 'setSecret', 'testSecret', 'finishSecret']),
});

export interface RotationClients {
  /** Client instances for Secrets Manager and SSM: the SDK's paginators take nothing else. */
  readonly sm: SecretsManagerClient;
  readonly ssm: SSMClient;
  readonly sns: Pick<SNSClient, 'send'>;
  /** Reads host output from the output bucket when SSM cut it. */
  readonly s3: Pick<S3Client, 'send'>;
}

export interface RotationContext {
  readonly fleet: Fleet;
  readonly documents: Record<string, string>;
  readonly outputBucket: string;
  readonly topicArn: string;
  /** Time left in the invocation, now, sleep. @default wall clock, no time limit */
  readonly clock?: Partial<RunClock>;
  /** Stop waiting when less than this is left (ms). @default 45 s */
  readonly reserveMs?: number;
  readonly pollMs?: number;
  readonly random?: (bytes: number) => Buffer;
}

export class RotationError extends Error {
  override name = 'RotationError';
}

/** Label on a version whose rotation failed and was rolled back: retries stop there. */
export const ROLLED_BACK_LABEL = 'shipshape-rolled-back';
/** Label on the previous version once its grace period ended and every host dropped it. */
export const GRACE_ENDED_LABEL = 'shipshape-grace-ended';

/**
 * The runId of one kind of host run for one secret version (or console run): `<code>-<key>`, at
 * most 36 characters (the key without dashes, or its SHA-256 when longer than 32). The same key
 * gives the same runId, which is how a resumed step finds the commands it sent.
 */
export function versionRunId(code: 'set' | 'tst' | 'chk' | 'rbk' | 'grc' | 'adp' | 'abn' | 'rlb' | 'rhc' | 'rlc', versionId: string): string {
  const compact = versionId.replace(/[^A-Za-z0-9]/g, '');
  return `${code}-${compact.length > 0 && compact.length <= 32 ? compact : createHash('sha256').update(versionId).digest('hex').slice(0, 32)}`;
}

/**
 * Attaches a label to a version. Secrets Manager refuses to move a label that another version
 * holds unless that version is named (RemoveFromVersionId).
 */
export async function moveLabel(sm: Pick<SecretsManagerClient, 'send'>, secretId: string, label: string, to: string, versions: Record<string, string[]>): Promise<void> {
  const holder = Object.entries(versions).find(([, s]) => s.includes(label))?.[0];
  if (holder === to) return;
  await sm.send(new UpdateSecretVersionStageCommand({ SecretId: secretId, VersionStage: label, MoveToVersionId: to, ...(holder ? { RemoveFromVersionId: holder } : {}) }));
}

export function fullClock(c: Partial<RunClock> | undefined): RunClock {
  return {
    remainingMs: c?.remainingMs ?? (() => Number.POSITIVE_INFINITY),
    now: c?.now ?? (() => Date.now()),
    sleep: c?.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
  };
}

/** When the previous value stops being valid: the last rotation plus graceDays, or undefined (until the next rotation). */
export function graceEnds(secret: AppSecret, rotatedAt: Date | undefined): Date | undefined {
  if (secret.graceDays === undefined || !rotatedAt) return undefined;
  return new Date(rotatedAt.getTime() + secret.graceDays * 86_400_000);
}

export function graceSentence(secret: AppSecret, rotatedAt: Date): string {
  const ends = graceEnds(secret, rotatedAt);
  const where = secret.previousVariable ? `${secret.previousVariable} in ${secret.envFile}` : secret.previousFile;
  if (!where) return 'The previous value is not kept on the hosts (no previousVariable/previousFile).';
  return ends
    ? `The previous value stays valid (${where}) until ${ends.toISOString().slice(0, 16)}Z (graceDays ${secret.graceDays}); then the hourly sweep removes it from every host and verifies.`
    : `The previous value stays valid (${where}) until the next rotation (no graceDays).`;
}

/** The configured secret behind a Secrets Manager name or ARN. */
export function findSecret(fleet: Fleet, nameOrArn: string): { stack: Stack; secret: AppSecret } | undefined {
  for (const stack of fleet.stacks) {
    for (const secret of stack.secrets) {
      const name = secretName(fleet.fleet, stack.name, secret.name);
      if (secret.secretArn ? nameOrArn === secret.secretArn : nameOrArn === name || nameOrArn.includes(`:secret:${name}-`)) return { stack, secret };
    }
  }
  return undefined;
}

/** A new value as the secret's generator says. Key pairs are always fresh, whatever `random` is. */
export function newValue(secret: AppSecret, random: (bytes: number) => Buffer = randomBytes): string {
  const g = secret.generator;
  if (g.json) return JSON.stringify(Object.fromEntries(Object.entries(g.json).map(([k, v]) => [k, random(v.bytes).toString(v.encoding)])));
  if (g.keyPair) return signingKeyPair(g.keyPair.algorithm);
  return random(g.bytes ?? 32).toString(g.encoding ?? 'hex');
}

/** {"kid","alg","privateJwk","publicJwk"} on one line; kid is the RFC 7638 thumbprint of the public key. */
export function signingKeyPair(alg: 'ES256' | 'EdDSA'): string {
  const { privateKey, publicKey } = alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
  const pub = publicKey.export({ format: 'jwk' }) as Record<string, string>;
  // RFC 7638: the required members only, in lexicographic order, no spaces.
  const required = pub.kty === 'EC' ? { crv: pub.crv, kty: pub.kty, x: pub.x, y: pub.y } : { crv: pub.crv, kty: pub.kty, x: pub.x };
  const kid = createHash('sha256').update(JSON.stringify(required)).digest('base64url');
  return JSON.stringify({ kid, alg, privateJwk: { ...privateKey.export({ format: 'jwk' }), kid, alg }, publicJwk: { ...pub, kid, alg } });
}


const hostFailures = (runs: HostRun[], ok: (r: HostRun) => string | undefined) => runs.map((r) => [r.instanceId, ok(r)] as const).filter(([, why]) => why !== undefined) as [string, string][];

function applyProblem(r: HostRun): string | undefined {
  if (r.status !== 'Success') return `apply-secret ended ${r.status}`;
  try {
    const doc = extractJson(r.stdout) as { errors?: string[] };
    return doc.errors?.length ? doc.errors.join('; ') : undefined;
  } catch {
    return 'apply-secret printed no result';
  }
}

type ApplyDoc = { verified?: boolean; changed?: boolean; restarts?: { container: string }[]; containers?: { container: string; matches: boolean }[] };

/**
 * Every receiving container holds the applied version: apply-secret's own per-container hash
 * comparison (`containers[].matches`, `verified`), never a container with another value.
 */
export function verifiedProblem(r: HostRun): string | undefined {
  const problem = applyProblem(r);
  const doc = extractJsonSafe(r.stdout) as ApplyDoc | undefined;
  const stale = (doc?.containers ?? []).filter((c) => !c.matches).map((c) => c.container);
  if (stale.length) return `containers do not hold the new value: ${stale.join(', ')}${problem ? ` (${problem})` : ''}`;
  if (problem) return problem;
  if (doc?.verified !== true) return 'apply-secret did not verify the containers (no per-container check in its result)';
  return undefined;
}

/**
 * testSecret's check: apply-secret run again verifies by hash and changes nothing when the value
 * is in place; a container it had to bring up to date (or could not) still held another value.
 */
function testProblem(r: HostRun): string | undefined {
  const problem = verifiedProblem(r);
  if (problem) return problem;
  const doc = extractJsonSafe(r.stdout) as ApplyDoc | undefined;
  if (doc?.changed || doc?.restarts?.length) return `containers still held the old value at testSecret: ${(doc.restarts ?? []).map((x) => x.container).join(', ') || 'the file had changed'}`;
  return undefined;
}

export async function rotate(clients: RotationClients, ctx: RotationContext, event: unknown): Promise<string> {
  const { SecretId, ClientRequestToken: token, Step } = parseOrThrow(RotationEvent, event, 'rotation event');
  const desc = await clients.sm.send(new DescribeSecretCommand({ SecretId }));
  if (!desc.RotationEnabled) throw new RotationError(`rotation is not enabled for ${desc.Name}`);
  const versions = desc.VersionIdsToStages ?? {};
  const stages = versions[token];
  if (!stages) throw new RotationError(`${desc.Name} has no version ${token}`);
  if (stages.includes('AWSCURRENT')) return `${Step}: ${token} is already AWSCURRENT`;
  // A retry of a rotation that already failed and was rolled back: nothing more to do, nothing to alert.
  if (stages.includes(ROLLED_BACK_LABEL)) throw new RotationError(`${Step}: rotation of ${desc.Name} to ${token} failed earlier and was rolled back (alerted then); it is not retried`);
  if (!stages.includes('AWSPENDING')) throw new RotationError(`version ${token} of ${desc.Name} is not AWSPENDING`);
  const target = findSecret(ctx.fleet, desc.ARN ?? desc.Name ?? SecretId) ?? findSecret(ctx.fleet, desc.Name ?? '');
  if (!target) throw new RotationError(`${desc.Name} is not a secret of fleet ${ctx.fleet.fleet}`);
  const ops = stackOperations(clients, ctx, target);

  /** Roll the hosts back to AWSCURRENT, alert, label the version, and fail the step. */
  const fail = async (what: string, failures: [string, string][]): Promise<never> => {
    const restored = await ops.reapply('AWSCURRENT', versionRunId('rbk', token));
    await ops.alert(`rotation of ${target.secret.name} failed at ${what}`, [
      `Rotating ${target.secret.name} (${desc.Name}) failed at ${what}. AWSCURRENT was not moved: the old value stays in force.`,
      '', 'Where:', ...failures.map(([host, why]) => `  ${host}: ${why}`), '',
      restored === true ? 'Rollback: every host has the AWSCURRENT value again and its services were restarted or recreated.' : `Rollback FAILED: ${restored}. Run the apply-secret document with Stage AWSCURRENT on these hosts.`,
      restored === true
        ? `Version ${token} is labelled ${ROLLED_BACK_LABEL} and no longer AWSPENDING: the next scheduled or console rotation starts afresh.`
        : `Version ${token} stays AWSPENDING (labelled ${ROLLED_BACK_LABEL}) so that nothing rotates over hosts in an unknown state; remove the AWSPENDING label once the hosts hold AWSCURRENT.`,
    ]);
    await moveLabel(clients.sm, SecretId, ROLLED_BACK_LABEL, token, versions);
    if (restored === true) await clients.sm.send(new UpdateSecretVersionStageCommand({ SecretId, VersionStage: 'AWSPENDING', RemoveFromVersionId: token }));
    throw new RotationError(`${what} failed on ${failures.map(([h]) => h).join(', ')}`);
  };

  switch (Step) {
    case 'createSecret': {
      // A label is on one version at a time, so this token's AWSPENDING is the only one (RotateSecret refuses to start over a stuck one).
      try {
        await clients.sm.send(new GetSecretValueCommand({ SecretId, VersionId: token, VersionStage: 'AWSPENDING' }));
        return `createSecret: AWSPENDING ${token} already exists`;
      } catch (err) {
        if ((err as { name?: string }).name !== 'ResourceNotFoundException') throw err;
      }
      await clients.sm.send(new PutSecretValueCommand({ SecretId, ClientRequestToken: token, SecretString: newValue(target.secret, ctx.random), VersionStages: ['AWSPENDING'] }));
      return `createSecret: created AWSPENDING ${token}`;
    }
    case 'setSecret': {
      const failures = await ops.apply('AWSPENDING', versionRunId('set', token), applyProblem);
      if (failures.length) return fail('setSecret', failures);
      return 'setSecret: applied on every host';
    }
    case 'testSecret': {
      const stale = await ops.apply('AWSPENDING', versionRunId('tst', token), testProblem);
      const failures = stale.length ? stale : await ops.healthCheck(versionRunId('chk', token));
      if (failures.length) return fail('testSecret', failures);
      return 'testSecret: every container holds the new value and every host is healthy';
    }
    case 'finishSecret': {
      const current = Object.entries(versions).find(([, s]) => s.includes('AWSCURRENT'))?.[0];
      await clients.sm.send(new UpdateSecretVersionStageCommand({ SecretId, VersionStage: 'AWSCURRENT', MoveToVersionId: token, ...(current ? { RemoveFromVersionId: current } : {}) }));
      const now = new Date(fullClock(ctx.clock).now());
      await ops.alert(`${target.secret.name} rotated`, [
        `${target.secret.name} (${desc.Name}) was rotated: every container of every host of ${target.stack.name} holds version ${token}, which is AWSCURRENT now.`,
        graceSentence(target.secret, now),
      ], 'info');
      return `finishSecret: ${token} is AWSCURRENT`;
    }
  }
}

export interface Target { readonly stack: Stack; readonly secret: AppSecret }

/** What rotation and the operator actions do to the hosts of one secret's stack. Host failures come back as [host, why]. */
export function stackOperations(clients: RotationClients, ctx: RotationContext, target: Target) {
  const clock = fullClock(ctx.clock);
  // Secret operations on one stack run one at a time (rotate-all starts several): they share env files and services.
  const exclusiveWith = [APPLY_SECRET, HEALTH_CHECK, SECRET_GRACE_END].flatMap((rb) => (ctx.documents[rb] ? [ctx.documents[rb]] : []));
  const run = (runbook: string, runId: string, parameters: Record<string, string>) => runOnStack(clients, {
    fleet: ctx.fleet, documents: ctx.documents, outputBucket: ctx.outputBucket, runbook, stack: target.stack.name, runId, parameters, clock, exclusiveWith,
    ...(ctx.reserveMs !== undefined ? { reserveMs: ctx.reserveMs } : {}), ...(ctx.pollMs !== undefined ? { pollMs: ctx.pollMs } : {}),
  });
  // Host problems and SSM errors become failures; running out of time does not: the step resumes.
  const guarded = async (work: () => Promise<[string, string][]>): Promise<[string, string][]> => {
    try {
      return await work();
    } catch (err) {
      if (err instanceof StepNotFinished) throw err;
      return [[target.stack.name, (err as Error).message]];
    }
  };
  const apply = (stage: 'AWSPENDING' | 'AWSCURRENT' | 'AWSPREVIOUS', runId: string, problem: (r: HostRun) => string | undefined = applyProblem) =>
    guarded(async () => hostFailures(await run(APPLY_SECRET, runId, { Secret: target.secret.name, Stage: stage }), problem));
  return {
    apply,
    /** Every host on a stage, every container verified: true, or what went wrong. */
    async reapply(stage: 'AWSCURRENT' | 'AWSPREVIOUS', runId: string): Promise<true | string> {
      const bad = await apply(stage, runId, verifiedProblem);
      return bad.length ? bad.map(([h, why]) => `${h}: ${why}`).join('; ') : true;
    },
    healthCheck: (runId: string) => guarded(async () => hostFailures(await run(HEALTH_CHECK, runId, {}), (r) => {
      if (r.status !== 'Success') return `health check ended ${r.status}`;
      const parsed = HealthResult.safeParse(extractJsonSafe(r.stdout));
      if (!parsed.success) return 'health check printed no valid result';
      const crit = failing(evaluateHealth(parsed.data, ctx.fleet, target.stack)).filter((f) => f.severity === 'critical');
      return crit.length ? crit.map((f) => f.message).join('; ') : undefined;
    })),
    /** Runs a document on the stack as it is (for runbooks other than apply-secret and health-check). */
    run,
    async alert(what: string, lines: string[], severity: 'critical' | 'warning' | 'info' = 'critical'): Promise<void> {
      const kind = severity === 'info' ? 'info' : 'firing';
      await clients.sns.send(new PublishCommand(snsMessage({
        topicArn: ctx.topicArn,
        subject: clip(`[${severity.toUpperCase()}] ${ctx.fleet.fleet}/${target.stack.name}: ${what}`, SUBJECT_LIMIT),
        text: lines.join('\n'),
        json: { kind, severity, fleet: ctx.fleet.fleet, stack: target.stack.name, secret: target.secret.name, summary: what, details: lines },
        attributes: { severity, kind, fleet: ctx.fleet.fleet },
      })));
    },
  };
}

function extractJsonSafe(stdout: string): unknown {
  try {
    return extractJson(stdout);
  } catch {
    return undefined;
  }
}
