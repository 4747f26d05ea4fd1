#!/usr/bin/env node
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { FleetConfigError, loadFleetFile } from '../lib/config/load.js';
import { FleetStack, pascal } from '../lib/stacks/fleet-stack.js';

const app = new App();
const fleetPath = String(app.node.tryGetContext('fleet') ?? 'config/grahmos.yaml');
try {
  const fleet = loadFleetFile(fleetPath);
  new FleetStack(app, `Shipshape${pascal(fleet.fleet)}`, {
    fleet,
    ...(fleet.env ? { env: fleet.env } : {}),
  });
} catch (err) {
  if (!(err instanceof FleetConfigError)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
}
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
