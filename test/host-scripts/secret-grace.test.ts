/**
 * secret-grace.sh on a fake Docker host: the failure paths and the one-result contract (the
 * successful recreate and restart cases run end to end in test/e2e/rotation.e2e.test.ts).
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseFleet } from '../../lib/config/load.js';
import { SecretGraceResult } from '../../lib/results/secret-grace.js';
import { composeSpecLines } from '../../lib/runbooks/compose.js';
import { secretsSpecLines } from '../../lib/runbooks/secrets.js';
import { evaluateSecretGrace } from '../../lambdas/result/evaluate-secret-grace.js';
import { composeLabels } from '../support/compose.js';
import { FakeHost, running } from '../support/fake-host.js';
import { runHostScript } from '../support/run-script.js';
import { specFile } from '../support/spec-file.js';

const OLD = 'a1'.repeat(32);
const NEW = 'b2'.repeat(32);
let host: FakeHost;
afterEach(() => host?.dispose());

function prepare(opts: { previous?: boolean } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'secret-grace-'));
  const app = join(dir, 'app');
  mkdirSync(app);
  const envFile = join(app, '.env');
  writeFileSync(envFile, `JWT_SECRET=${NEW}\nJWT_SECRET_PREVIOUS=${OLD}\nOTHER=keep\n`, { mode: 0o640 });
  host = new FakeHost({ 'web-api-1': running({ Config: { Labels: composeLabels('web', 'api', 1, app), Env: ['PATH=/usr/bin', `JWT_SECRET=${NEW}`, `JWT_SECRET_PREVIOUS=${OLD}`] } }) });
  // A compose that cannot recreate (e.g. the compose file moved away).
  const bin = mkdtempSync(join(tmpdir(), 'grace-bin-'));
  writeFileSync(join(bin, 'docker-compose'), '#!/bin/sh\n[ "$1" = version ] && exit 0\necho "ERROR: No such service: api" >&2\nexit 1\n', { mode: 0o755 });
  const fleet = parseFleet({ fleet: 'demo', stacks: [{ name: 'web', hosts: { tag: { key: 'R', value: 'w' } }, composeProject: 'web', services: [{ name: 'api' }],
    secrets: [{ name: 'jwt', envFile, variable: 'JWT_SECRET', restart: ['api'], ...(opts.previous === false ? {} : { previousVariable: 'JWT_SECRET_PREVIOUS', graceDays: 7 }) }] }] });
  const stack = fleet.stacks[0]!;
  const env = (secret = 'jwt') => host.env({ PATH: `${bin}:${host.env().PATH}`, SHIPSHAPE_STACK: 'web', SHIPSHAPE_RUN_ID: 'grc-1', SHIPSHAPE_SECRET: secret, SHIPSHAPE_GRACE_ENDED: '2026-11-29T10:00Z',
    SHIPSHAPE_SPEC_FILE: specFile({ compose: composeSpecLines(stack), secrets: secretsSpecLines(fleet, stack) }), SHIPSHAPE_HEALTH_WAIT_SECONDS: '1' });
  return { envFile, env, fleet, stack };
}

async function grace(env: Record<string, string>) {
  const run = await runHostScript('secret-grace.sh', env);
  for (const v of [OLD, NEW]) expect(run.stdout + run.stderr).not.toContain(v);
  return SecretGraceResult.parse(run.json);
}

describe('secret-grace.sh', () => {
  it('fails when compose cannot recreate the service: the line is gone from the file, but the container still holds the previous value, and says so', async () => {
    // Prepare
    const { envFile, env, fleet, stack } = prepare();
    // Act
    const r = await grace(env());
    // Assess
    expect(readFileSync(envFile, 'utf8')).toBe(`JWT_SECRET=${NEW}\nOTHER=keep\n`);
    expect(r).toMatchObject({ secret: 'jwt', graceEnded: '2026-11-29T10:00Z', previous: `JWT_SECRET_PREVIOUS in ${envFile}`, changed: true, verified: false });
    expect(r.containers).toEqual([expect.objectContaining({ container: 'web-api-1', holdsPrevious: true })]);
    expect(r.errors[0]).toMatch(/^docker-compose up --force-recreate api \(project web\) failed: ERROR: No such service: api/);
    expect(r.errors).toContain('web-api-1 still holds the previous value (JWT_SECRET_PREVIOUS in its environment)');
    const findings = evaluateSecretGrace(r, fleet, stack);
    expect(findings.map((f) => [f.check, f.severity, f.message])).toEqual([['secret.grace', 'critical', `web-api-1 on ${r.host} still holds the previous value of jwt (grace period ended 2026-11-29T10:00Z): JWT_SECRET_PREVIOUS in ${envFile}`]]);
  });

  it('changes nothing when the secret keeps no previous value', async () => {
    const { envFile, env } = prepare({ previous: false });
    const before = readFileSync(envFile, 'utf8');
    const r = await grace(env());
    expect(r).toMatchObject({ previous: null, changed: false, verified: true, errors: [] });
    expect(readFileSync(envFile, 'utf8')).toBe(before);
    expect(host.calls()).toEqual([]);
  });

  it('fails with one result for a secret the stack does not have', async () => {
    const { env } = prepare();
    const r = await grace(env('nope'));
    expect(r.errors).toEqual(["stack 'web' has no secret named 'nope'"]);
    expect(r.verified).toBe(false);
  });
});
