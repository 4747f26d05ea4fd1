/**
 * The README's main command, as a user runs it: `npm run synth` on the bundled example fleet,
 * offline. Guards the summary it prints as much as the synth itself.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

describe('npm run synth', () => {
  it('synthesizes the example fleet offline and summarizes documents, runbooks, schedules and cdk-nag', () => {
    // Act
    // The package's own tsx, as `npm run synth` runs it (npx would only add a Node start-up to find it).
    const run = spawnSync('node_modules/.bin/tsx', ['scripts/synth.ts'], { encoding: 'utf8', timeout: 240_000, env: { ...process.env, AWS_PROFILE: 'none-offline' } });
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
  }, 300_000);
});
