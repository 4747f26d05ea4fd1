import { readFileSync } from 'node:fs';
import { App, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { Fleet } from '../../lib/config/schema.js';
import { FleetStack } from '../../lib/stacks/fleet-stack.js';

/** Synthesizes a fleet the way bin/app.ts does, cdk-nag included: findings make this throw. */
export function synthFleet(fleet: Fleet, extend?: (stack: FleetStack) => void): { stack: FleetStack; template: Template } {
  const { fleet: _default, ...flags } = JSON.parse(readFileSync('cdk.json', 'utf8')).context as Record<string, unknown>;
  const app = new App({ context: flags });
  const stack = new FleetStack(app, 'TestFleet', { fleet });
  extend?.(stack);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { stack, template: Template.fromStack(stack) };
}

/** The template with asset hashes masked, for snapshots that survive code changes. */
export function withoutAssetHashes(template: Template): unknown {
  return JSON.parse(JSON.stringify(template.toJSON()).replace(/[0-9a-f]{64}(\.zip)?/g, '[asset]'));
}
