import { readFileSync } from 'node:fs';
import { App, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { Fleet } from '../../lib/config/schema.js';
import { FleetStack } from '../../lib/stacks/fleet-stack.js';

/**
 * Synthesizes a fleet the way bin/app.ts does, cdk-nag included: findings make this throw. Without
 * bundling the functions: the README's `npm run synth` (test/scripts/synth.test.ts) is the one
 * test that bundles them, and checks the bundles.
 */
export function synthFleet(fleet: Fleet, extend?: (stack: FleetStack) => void): { stack: FleetStack; template: Template; app: App } {
  const { fleet: _default, ...flags } = JSON.parse(readFileSync('cdk.json', 'utf8')).context as Record<string, unknown>;
  // No built-in CloudFormation validation: outside strict mode it only warns, so it can fail no
  // test, and its WebAssembly engine cost ~5 s of CPU per process and ~1 s per synth. The README's
  // `npm run synth` (test/scripts/synth.test.ts) still runs it and asserts it finds nothing.
  // No asset staging: assets keep their hashes in the template, but nothing is copied into the
  // cloud assembly (22 MB per synth for BucketDeployment's AWS CLI layer alone).
  const app = new App({
    context: { ...flags, 'aws:cdk:bundling-stacks': [], 'aws:cdk:disable-asset-staging': true },
    builtinCloudFormationValidation: false,
  });
  const stack = new FleetStack(app, 'TestFleet', { fleet });
  extend?.(stack);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { stack, app, template: Template.fromStack(stack) };
}

/**
 * The template for a snapshot that survives code and script edits: asset hashes masked and
 * document content left out (documents have their own targeted assertions).
 */
export function forSnapshot(template: Template): unknown {
  const json = JSON.parse(JSON.stringify(template.toJSON()).replace(/[0-9a-f]{64}(\.zip)?/g, '[asset]')) as { Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> };
  for (const r of Object.values(json.Resources)) {
    if (r.Type === 'AWS::SSM::Document' && r.Properties) r.Properties.Content = '[document content: see the document tests]';
    if (r.Type === 'AWS::CloudWatch::Dashboard' && r.Properties) r.Properties.DashboardBody = '[dashboard body]';
  }
  return json;
}
