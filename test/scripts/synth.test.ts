/**
 * The README's main command, as a user runs it: `npm run synth` on the bundled example fleet,
 * offline. Guards the summary it prints as much as the synth itself. It is also the one test that
 * bundles every function with esbuild (every other synth skips bundling): its cloud assembly is
 * checked for the bundles.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { LAMBDA_RUNTIME } from '../../lib/runtime.js';

let run: SpawnSyncReturns<string>;
beforeAll(() => {
  // Act
  // The package's own tsx, as `npm run synth` runs it (npx would only add a Node start-up to find it).
  run = spawnSync('node_modules/.bin/tsx', ['scripts/synth.ts'], { encoding: 'utf8', timeout: 240_000, env: { ...process.env, AWS_PROFILE: 'none-offline' } });
}, 300_000);

describe('npm run synth', () => {
  it('synthesizes the example fleet offline and summarizes documents, runbooks, schedules and cdk-nag', () => {
    // Assess
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain('Stack ShipshapeGrahmos:');
    expect(run.stdout).toMatch(/document +health check of a Docker-compose stack\n/);
    expect(run.stdout).toMatch(/runbook +rotate one application secret now\n/);
    expect(run.stdout).toMatch(/schedule +health-check \(1 run\): rate\(15 minutes\)\n/);
    expect(run.stdout).toMatch(/schedule +watchdog every 5 minutes: rate\(5 minutes\)/);
    expect(run.stdout).toMatch(/After deploying:\n  1\. Tag every host shipshape:fleet=grahmos/);
    expect(run.stdout).toContain('attach HostSecretsPolicyArn and tag the role shipshape:stack=<stack>');
    expect(run.stdout).toContain('cdk-nag AwsSolutions and CloudFormation validation: no unacknowledged findings');
    expect(run.stdout).not.toContain('undefined');
  });

  it('bundles every function with its fleet.json, for ARM64 on the one runtime', () => {
    // Assess
    expect(run.status, run.stderr).toBe(0);
    const template = JSON.parse(readFileSync(join('cdk.out', 'ShipshapeGrahmos.template.json'), 'utf8')) as { Resources: Record<string, { Type: string; Properties: any }> };
    const fns = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function').map((r) => r.Properties).filter((f) => String(f.Description).startsWith('shipshape '));
    // Dispatcher, results, console, watchdog, and (the example has backups and secrets) retention and rotation.
    expect(fns.length).toBe(6);
    for (const f of fns) {
      expect(f).toMatchObject({ Runtime: LAMBDA_RUNTIME.name, Architectures: ['arm64'], Handler: 'index.handler' });
      const dir = join('cdk.out', `asset.${String(f.Code.S3Key).replace(/\.zip$/, '')}`);
      expect(existsSync(join(dir, 'index.mjs')), dir).toBe(true);
      expect(JSON.parse(readFileSync(join(dir, 'fleet.json'), 'utf8')).fleet).toBe('grahmos');
    }
  });
});
