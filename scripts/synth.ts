/**
 * `npm run synth [-- -c fleet=config/x.yaml]`: synthesizes the app offline (no AWS
 * account, no telemetry, no version check) and prints what it built.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const args = process.argv.slice(2);
const env = { ...process.env, CDK_DISABLE_VERSION_CHECK: '1', CDK_DISABLE_CLI_TELEMETRY: 'true' };
const started = Date.now();
console.log('shipshape: synthesizing (offline, local esbuild bundling)...');
// Templates of another fleet synthesized earlier would be reported as if they were this one.
rmSync('cdk.out', { recursive: true, force: true });
// The local CLI directly: npx would cost a Node start-up (~0.3 s of CPU) to find it.
const cdk = spawnSync(join('node_modules', '.bin', 'cdk'), ['synth', '--no-notices', '-q', ...args], { stdio: 'inherit', env });
if (cdk.status !== 0) {
  console.error(`\nshipshape: synth failed (exit ${cdk.status}). The message above names the problem.`);
  process.exit(cdk.status ?? 1);
}

type Resource = { Type: string; Properties?: Record<string, any> };
const outDir = 'cdk.out';
const templates = readdirSync(outDir).filter((f) => f.endsWith('.template.json'));
const count = (rs: Resource[], type: string) => rs.filter((r) => r.Type === type).length;
for (const file of templates) {
  const template = JSON.parse(readFileSync(join(outDir, file), 'utf8')) as { Resources: Record<string, Resource> };
  const resources = Object.values(template.Resources);
  const docs = resources.filter((r) => r.Type === 'AWS::SSM::Document');
  const schedules = resources.filter((r) => r.Type === 'AWS::Scheduler::Schedule');
  const subs = resources.filter((r) => r.Type === 'AWS::SNS::Subscription');
  console.log(`\nStack ${file.replace('.template.json', '')}: ${resources.length} resources`);
  for (const d of docs) {
    const content = d.Properties?.Content as { description: string; schemaVersion: string; parameters: Record<string, { allowedValues?: string[] }> };
    const kind = content.schemaVersion === '0.3' ? 'runbook ' : 'document';
    const choice = content.parameters.Stack?.allowedValues ? `stacks: ${content.parameters.Stack.allowedValues.join(', ')}` : Object.entries(content.parameters).filter(([, p]) => p.allowedValues).map(([n, p]) => `${n}: ${p.allowedValues!.join(', ')}`).join('; ');
    console.log(`  ${kind}   ${content.description.split(':')[1]?.split(/\.(\s|$)/)[0]?.trim() ?? 'command'}${choice ? ` (${choice})` : ''}`);
  }
  for (const s of schedules) {
    const p = s.Properties!;
    const what = String(p.Description ?? p.Target.Input).replace(/^shipshape [^:]+: /, '');
    const tz = String(p.ScheduleExpression).startsWith('rate(') ? '' : ` ${p.ScheduleExpressionTimezone ?? 'UTC'}`;
    console.log(`  schedule   ${what}: ${p.ScheduleExpression}${tz}${p.State === 'DISABLED' ? ' (disabled)' : ''}`);
  }
  console.log(`  topic      ${count(resources, 'AWS::SNS::Topic')} alert topic(s), ${subs.length} subscription(s): ${subs.map((s) => `${s.Properties!.Protocol} ${s.Properties!.Endpoint} [${(s.Properties!.FilterPolicy?.severity ?? []).join('/')}]`).join('; ') || 'none'}`);
  console.log(`  functions  ${count(resources, 'AWS::Lambda::Function')}, rules ${count(resources, 'AWS::Events::Rule')}, buckets ${count(resources, 'AWS::S3::Bucket')}, keys ${count(resources, 'AWS::KMS::Key')}`);
}
const fleetArg = args.find((a) => a.startsWith('fleet='));
const configPath = fleetArg?.slice(6) ?? JSON.parse(readFileSync('cdk.json', 'utf8')).context.fleet;
if (configPath && existsSync(configPath)) {
  const { loadFleetFile } = await import('../lib/config/load.js');
  const fleet = loadFleetFile(configPath);
  console.log(`\nHosts (${configPath}); every host must also carry the tag shipshape:fleet=${fleet.fleet}:`);
  for (const s of fleet.stacks) {
    const sel = s.hosts.tag ? `tag ${s.hosts.tag.key}=${s.hosts.tag.value}` : `${s.hosts.instanceIds!.length} instance ID(s)`;
    console.log(`  ${s.name.padEnd(14)} ${sel}, ${s.services.length} service(s)`);
  }
}
const report = join(outDir, 'validation-report.json');
if (existsSync(report)) {
  const r = JSON.parse(readFileSync(report, 'utf8')) as { pluginReports: { pluginName: string; violations: unknown[]; suppressedViolations?: unknown[] }[] };
  for (const p of r.pluginReports) console.log(`\n${p.pluginName}: ${p.violations.length} finding(s), ${p.suppressedViolations?.length ?? 0} acknowledged with a reason`);
  if (r.pluginReports.every((p) => p.violations.length === 0)) console.log('\ncdk-nag AwsSolutions and CloudFormation validation: no unacknowledged findings');
}
console.log(`\nWrote ${outDir}/ in ${((Date.now() - started) / 1000).toFixed(1)} s. Deploy with: npx cdk deploy${fleetArg ? ` -c ${fleetArg}` : ''}`);

// What to do once the stack is deployed, for this fleet: from the template's own outputs.
const main = templates.map((f) => JSON.parse(readFileSync(join(outDir, f), 'utf8')) as { Outputs?: Record<string, unknown> }).find((t) => t.Outputs?.HostPolicyArn);
if (main && configPath && existsSync(configPath)) {
  const outputs = Object.keys(main.Outputs ?? {});
  const { loadFleetFile } = await import('../lib/config/load.js');
  const fleet = loadFleetFile(configPath);
  const steps = [
    `Tag every host shipshape:fleet=${fleet.fleet} and its stack's own tag (listed under Hosts above).`,
    'Give every host role AmazonSSMManagedInstanceCore and the HostPolicyArn output (hybrid nodes: the activation role; they also need the region, which the documents pass).',
  ];
  if (outputs.includes('HostSecretsPolicyArn')) steps.push('Hosts of stacks with secrets: attach HostSecretsPolicyArn and tag the role shipshape:stack=<stack>.');
  steps.push('Confirm the subscription emails (and SMS sandbox numbers) of the alert recipients.');
  const runbook = (name: string) => outputs.find((o) => o === `${name}RunbookName`);
  if (runbook('PreflightNow')) steps.push('Run preflight-now for each stack (Systems Manager > Automation, output PreflightNowRunbookName; it also runs by itself after this deploy and daily): it checks each host against the config before the first backup does.');
  if (runbook('SendTestAlert')) steps.push('Run send-test-alert (output SendTestAlertRunbookName): one message of each severity reaches every receiver.');
  if (runbook('AdoptSecret')) steps.push('Run adopt-secret for each secret (output AdoptSecretRunbookName) once its hosts are ready: deploys never rotate; this applies the current value on every host and verifies each container holds it.');
  steps.push('Run health-check-now for one stack and look at the dashboard shipshape-' + fleet.fleet + '.');
  console.log('\nAfter deploying:');
  steps.forEach((s, i) => console.log(`  ${i + 1}. ${s}`));
}
