/**
 * Secrets Manager rotation in its four steps, idempotent and safe to retry:
 *   createSecret  a new value as AWSPENDING (kept if it already exists for this token);
 *                 a stuck AWSPENDING of another version is reported, never overwritten
 *   setSecret     every host of the stack applies AWSPENDING (apply-secret document)
 *   testSecret    every host passes its health check with the new value
 *   finishSecret  AWSCURRENT moves to the new version (AWSPREVIOUS follows)
 * When set or test fails, the hosts get AWSCURRENT back, a critical alert says what failed,
 * where, and whether the rollback worked, and the step fails: AWSCURRENT never moves.
 */
import {
  DescribeSecretCommand, GetSecretValueCommand, PutSecretValueCommand, UpdateSecretVersionStageCommand, type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import * as z from 'zod';
import type { AppSecret, Fleet, Stack } from '../../lib/config/schema.js';
import { HealthResult } from '../../lib/results/health.js';
import { failing } from '../../lib/results/findings.js';
import { HEALTH_CHECK } from '../../lib/runbooks/names.js';
import { APPLY_SECRET, secretName } from '../../lib/runbooks/names.js';
import { evaluateHealth } from '../result/evaluate-health.js';
import { extractJson } from '../result/invocation.js';
import { parseOrThrow } from '../shared/errors.js';
import { clip, snsMessage, SUBJECT_LIMIT } from '../shared/sns-message.js';
import { runOnStack, type HostRun } from './commands.js';

export const RotationEvent = z.object({
  SecretId: z.string().min(1).max(2048),
  ClientRequestToken: z.string().regex(/^[A-Za-z0-9-]{32,64}$/),
  Step: z.enum(['createSecret', 'setSecret', 'testSecret', 'finishSecret']),
});

export interface RotationClients {
  readonly sm: Pick<SecretsManagerClient, 'send'>;
  readonly ssm: Pick<SSMClient, 'send'>;
  readonly sns: Pick<SNSClient, 'send'>;
}

export interface RotationContext {
  readonly fleet: Fleet;
  readonly documents: Record<string, string>;
  readonly outputBucket: string;
  readonly topicArn: string;
  readonly waitSeconds?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: (bytes: number) => Buffer;
}

export class RotationError extends Error {
  override name = 'RotationError';
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

/**
 * testSecret's check that every container holds the pending value: apply-secret run again verifies
 * by hash and changes nothing when it is in place; a container it had to bring up to date (or
 * could not) still held another value, so the step fails.
 */
function verifyProblem(r: HostRun): string | undefined {
  const problem = applyProblem(r);
  if (problem) return problem;
  const doc = extractJsonSafe(r.stdout) as { verified?: boolean; changed?: boolean; restarts?: { container: string }[]; containers?: { container: string; matches: boolean }[] } | undefined;
  const stale = (doc?.containers ?? []).filter((c) => !c.matches).map((c) => c.container);
  if (doc?.verified === false || stale.length) return `containers do not hold the new value: ${stale.join(', ') || 'unverified'}`;
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
  if (!stages.includes('AWSPENDING')) throw new RotationError(`version ${token} of ${desc.Name} is not AWSPENDING`);
  const target = findSecret(ctx.fleet, desc.ARN ?? desc.Name ?? SecretId) ?? findSecret(ctx.fleet, desc.Name ?? '');
  if (!target) throw new RotationError(`${desc.Name} is not a secret of fleet ${ctx.fleet.fleet}`);
  const ops = stackOperations(clients, ctx, target, `rotate-${token.slice(0, 36)}`);
  const alert = async (what: string, failures: [string, string][], rolledBack: boolean | string) => ops.alert(
    `rotation of ${target.secret.name} failed at ${what}`,
    [
      `Rotating ${target.secret.name} (${desc.Name}) failed at ${what}. AWSCURRENT was not moved: the old value stays in force.`,
      '', 'Where:', ...failures.map(([host, why]) => `  ${host}: ${why}`), '',
      rolledBack === true ? 'Rollback: every host has the AWSCURRENT value again and its services were restarted.' : `Rollback FAILED: ${rolledBack}. Run the apply-secret document with Stage AWSCURRENT on these hosts.`,
      `Stuck version: ${token} stays AWSPENDING until the next rotation attempt succeeds or you remove the label.`,
    ],
  );
  const rollBack = () => ops.reapply('AWSCURRENT');

  switch (Step) {
    case 'createSecret': {
      const stuck = Object.entries(versions).find(([v, s]) => v !== token && s.includes('AWSPENDING'));
      if (stuck) {
        await alert('createSecret', [['Secrets Manager', `version ${stuck[0]} is still AWSPENDING from an earlier failed rotation`]], 'nothing was applied');
        throw new RotationError(`${desc.Name}: version ${stuck[0]} is still AWSPENDING from an earlier failed rotation; check the hosts, then remove that label before rotating again`);
      }
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
      const failures = await ops.apply('AWSPENDING');
      if (failures.length) {
        await alert('setSecret', failures, await rollBack());
        throw new RotationError(`setSecret failed on ${failures.map(([h]) => h).join(', ')}`);
      }
      return 'setSecret: applied on every host';
    }
    case 'testSecret': {
      const failures = [...await ops.verify(), ...await ops.healthCheck()];
      if (failures.length) {
        await alert('testSecret', failures, await rollBack());
        throw new RotationError(`testSecret failed on ${failures.map(([h]) => h).join(', ')}`);
      }
      return 'testSecret: every host is healthy with the new value';
    }
    case 'finishSecret': {
      const current = Object.entries(versions).find(([, s]) => s.includes('AWSCURRENT'))?.[0];
      await clients.sm.send(new UpdateSecretVersionStageCommand({ SecretId, VersionStage: 'AWSCURRENT', MoveToVersionId: token, ...(current ? { RemoveFromVersionId: current } : {}) }));
      return `finishSecret: ${token} is AWSCURRENT`;
    }
  }
}

export interface Target { readonly stack: Stack; readonly secret: AppSecret }

/** What rotation and the operator actions do to the hosts of one secret's stack. Host failures come back as [host, why]. */
export function stackOperations(clients: RotationClients, ctx: RotationContext, target: Target, runLabel: string) {
  const run = (runbook: string, parameters: Record<string, string>) => runOnStack(clients.ssm, {
    fleet: ctx.fleet, documents: ctx.documents, outputBucket: ctx.outputBucket, runbook, stack: target.stack.name, runId: runLabel.slice(0, 36).replace(/[^A-Za-z0-9-]/g, '-'),
    parameters, waitSeconds: ctx.waitSeconds ?? 600, sleep: ctx.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
  });
  const guarded = async (work: () => Promise<[string, string][]>): Promise<[string, string][]> => {
    try {
      return await work();
    } catch (err) {
      return [[target.stack.name, (err as Error).message]];
    }
  };
  const apply = (stage: 'AWSPENDING' | 'AWSCURRENT' | 'AWSPREVIOUS') => guarded(async () => hostFailures(await run(APPLY_SECRET, { Secret: target.secret.name, Stage: stage }), applyProblem));
  return {
    apply,
    /** Every container of every host holds the pending value (by hash), with nothing left to do. */
    verify: () => guarded(async () => hostFailures(await run(APPLY_SECRET, { Secret: target.secret.name, Stage: 'AWSPENDING' }), verifyProblem)),
    /** Every host back on a stage: true, or what went wrong. */
    async reapply(stage: 'AWSCURRENT' | 'AWSPREVIOUS'): Promise<true | string> {
      const bad = await apply(stage);
      return bad.length ? bad.map(([h, why]) => `${h}: ${why}`).join('; ') : true;
    },
    healthCheck: () => guarded(async () => hostFailures(await run(HEALTH_CHECK, {}), (r) => {
      if (r.status !== 'Success') return `health check ended ${r.status}`;
      const parsed = HealthResult.safeParse(extractJsonSafe(r.stdout));
      if (!parsed.success) return 'health check printed no valid result';
      const crit = failing(evaluateHealth(parsed.data, ctx.fleet, target.stack)).filter((f) => f.severity === 'critical');
      return crit.length ? crit.map((f) => f.message).join('; ') : undefined;
    })),
    async alert(what: string, lines: string[], severity: 'critical' | 'info' = 'critical'): Promise<void> {
      const kind = severity === 'critical' ? 'firing' : 'info';
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
