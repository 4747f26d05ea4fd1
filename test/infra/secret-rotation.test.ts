/**
 * Secret rotation as the template says it, against what the APIs require:
 *   - CloudFormation RotationSchedule: RotateImmediatelyOnUpdate defaults to true (a rotation at
 *     deploy, before any host is tagged); every schedule sets it false.
 *   - Secrets Manager RotateSecret: the caller needs lambda:InvokeFunction on the rotation
 *     function. RotateSecret is called by the rotation function (rotate-now, rotate-all), which
 *     the console runbooks invoke: both need it.
 *   - GetSecretValue/PutSecretValue need the secret's KMS key: the fleet key for created secrets,
 *     through Secrets Manager only for keys of adopted ones.
 *   - The fleet has ONE sweep schedule, whatever the number of secrets.
 */
import { NestedStack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { demoFleet } from '../support/fleets.js';
import { synthFleet } from '../support/synth.js';

type Statement = { Sid?: string; Effect: string; Action: string | string[]; Resource: unknown; Condition?: Record<string, Record<string, unknown>> };
const ADOPTED = 'arn:aws:secretsmanager:eu-central-1:111122223333:secret:legacy/hmac-AbCdEf';
const APPROVER = 'arn:aws:iam::111122223333:role/OnCallLead';
const actions = (st: Statement) => [st.Action].flat();
const refsOf = (v: unknown): string[] => (JSON.stringify(v) ?? '').match(/"(Ref|Fn::GetAtt)":\s*(\["[^"]+"|"[^"]+")/g)?.map((m) => m.replace(/.*"([^"[]+)"$/, '$1').replace(/^.*\["/, '')) ?? [];

let t: Template;
let three: Template;
/** Logical IDs. */
let rotationFn: string;
let rotationRole: string;
let fleetKey: string;

function policiesOfRole(tpl: Template, role: string): Statement[] {
  return Object.values(tpl.findResources('AWS::IAM::Policy'))
    .filter((r) => JSON.stringify(r.Properties.Roles).includes(`"${role}"`))
    .flatMap((r) => r.Properties.PolicyDocument.Statement as Statement[]);
}

beforeAll(() => {
  t = synthFleet(demoFleet((f) => {
    f.console = { approvers: [APPROVER], approve: ['rotate-all-secrets', 'rollback-secret'] } as never;
    f.stacks[0]!.secrets = [
      { name: 'jwt', envFile: '/opt/web/.env', variable: 'JWT_SECRET', previousVariable: 'JWT_SECRET_PREVIOUS', rotationDays: 30, restart: ['api'], graceDays: 7 },
      { name: 'hmac', secretArn: ADOPTED, envFile: '/opt/web/.env', variable: 'HMAC_KEY', rotationDays: 7 },
    ];
  })).template;
  three = synthFleet(demoFleet((f) => {
    f.stacks[0]!.secrets = ['a', 'b', 'c'].map((name) => ({ name, envFile: '/opt/web/.env', variable: name.toUpperCase(), previousVariable: `${name.toUpperCase()}_OLD`, graceDays: 3 }));
  })).template;
  rotationFn = Object.entries(t.findResources('AWS::Lambda::Function')).find(([, r]) => String(r.Properties.Description).includes('rotates application secrets'))![0];
  rotationRole = refsOf(t.findResources('AWS::Lambda::Function')[rotationFn]!.Properties.Role)[0]!;
  fleetKey = Object.keys(t.findResources('AWS::KMS::Key'))[0]!;
}, 300_000);

describe('secret rotation in the template', () => {
  it('never rotates at deploy: every rotation schedule sets RotateImmediatelyOnUpdate false', () => {
    const schedules = Object.values(t.findResources('AWS::SecretsManager::RotationSchedule'));
    expect(schedules).toHaveLength(2);
    for (const s of schedules) expect(s.Properties.RotateImmediatelyOnUpdate).toBe(false);
    for (const s of Object.values(three.findResources('AWS::SecretsManager::RotationSchedule'))) expect(s.Properties.RotateImmediatelyOnUpdate).toBe(false);
  });

  it('never rotates at deploy in nested templates either (past 50 secrets)', () => {
    // Prepare
    const { stack } = synthFleet(demoFleet((f) => {
      f.stacks[0]!.secrets = Array.from({ length: 101 }, (_, i) => ({ name: `s${i}`, envFile: '/opt/web/.env', variable: `S${i}` }));
    }));
    // Act
    const nested = stack.node.findAll().filter((c): c is NestedStack => c instanceof NestedStack).map((n) => Template.fromStack(n));
    // Assess
    const schedules = nested.flatMap((tpl) => Object.values(tpl.findResources('AWS::SecretsManager::RotationSchedule')));
    expect(nested).toHaveLength(3); // 50 secrets a template
    expect(schedules).toHaveLength(101);
    for (const sch of schedules) expect(sch.Properties.RotateImmediatelyOnUpdate).toBe(false);
  }, 300_000);

  it('lets the rotation function invoke itself, since it calls RotateSecret (rotate-now, rotate-all)', () => {
    const st = policiesOfRole(t, rotationRole);
    expect(st.filter((s) => actions(s).includes('secretsmanager:RotateSecret')).length).toBeGreaterThan(0);
    const invoke = st.filter((s) => actions(s).includes('lambda:InvokeFunction'));
    expect(invoke.map((s) => refsOf(s.Resource))).toEqual([[rotationFn]]);
  });

  it('lets every console runbook that reaches RotateSecret invoke the rotation function', () => {
    const automation = Object.entries(t.findResources('AWS::SSM::Document')).filter(([, d]) => d.Properties.Content.schemaVersion === '0.3');
    const invoking = automation.filter(([, d]) => refsOf(d.Properties.Content.mainSteps.at(-1).inputs?.FunctionName).includes(rotationFn));
    const payloads = invoking.map(([, d]) => JSON.parse(d.Properties.Content.mainSteps.at(-1).inputs.Payload).action as string).sort();
    expect(payloads).toEqual(['adopt', 'rollback', 'rotate-all', 'rotate-now']);
    for (const [, d] of invoking) {
      // The document assumes its own role, the default of its AutomationAssumeRole parameter.
      const role = refsOf(d.Properties.Content.parameters.AutomationAssumeRole.default)[0]!;
      const st = policiesOfRole(t, role).filter((s) => actions(s).includes('lambda:InvokeFunction'));
      expect(st.flatMap((s) => refsOf(s.Resource))).toContain(rotationFn);
    }
  });

  it('gives the rotation function the secrets\' key: the fleet key for created secrets, adopted keys only through Secrets Manager', () => {
    for (const s of Object.values(t.findResources('AWS::SecretsManager::Secret'))) expect(refsOf(s.Properties.KmsKeyId)).toEqual([fleetKey]);
    const st = policiesOfRole(t, rotationRole);
    const onFleetKey = st.filter((s) => refsOf(s.Resource).includes(fleetKey)).flatMap(actions);
    expect(onFleetKey).toEqual(expect.arrayContaining(['kms:Decrypt', 'kms:GenerateDataKey*']));
    const adopted = st.find((s) => s.Sid === 'AdoptedSecretKeys')!;
    expect(actions(adopted).sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
    expect(JSON.stringify(adopted.Resource)).toContain(':key/*');
    expect(Object.keys(adopted.Condition!)).toEqual(['StringEquals']);
    expect(Object.keys(adopted.Condition!.StringEquals!)).toEqual(['kms:ViaService']);
    expect(JSON.stringify(adopted.Condition)).toContain('secretsmanager.');
    // A fleet without adopted secrets grants no other key.
    expect(policiesOfRole(three, rotationRole).find((s) => s.Sid === 'AdoptedSecretKeys')).toBeUndefined();
  });

  it('lets the hosts decrypt the secrets only through Secrets Manager', () => {
    const host = Object.values(t.findResources('AWS::IAM::ManagedPolicy')).map((r) => r.Properties).find((p) => String(p.Description).includes('shipshape:stack=<stack>'))!;
    const kms = (host.PolicyDocument.Statement as Statement[]).filter((s) => actions(s).some((a) => a.startsWith('kms:')));
    expect(kms.map((s) => s.Sid).sort()).toEqual(['DecryptAdoptedSecrets', 'DecryptStackSecrets']);
    for (const s of kms) {
      expect(actions(s)).toEqual(['kms:Decrypt']);
      expect(JSON.stringify(s.Condition)).toContain('"kms:ViaService"');
    }
  });

  it('lets the rotation function follow, page, cancel and read what it sent, and end grace periods', () => {
    const st = policiesOfRole(t, rotationRole);
    const all = st.flatMap(actions);
    expect(all).toEqual(expect.arrayContaining(['ssm:ListCommands', 'ssm:ListCommandInvocations', 'ssm:GetCommandInvocation', 'ssm:CancelCommand', 'secretsmanager:ListSecretVersionIds', 'secretsmanager:UpdateSecretVersionStage']));
    const sendTo = st.filter((s) => actions(s).includes('ssm:SendCommand')).flatMap((s) => refsOf(s.Resource));
    const grace = Object.entries(t.findResources('AWS::SSM::Document')).find(([, d]) => String(d.Properties.Content.description).includes('end the grace period'))![0];
    expect(sendTo).toContain(grace);
    expect(all.some((a) => a.startsWith('s3:GetObject'))).toBe(true);
  });

  it('has one sweep schedule for the fleet, whatever the number of secrets', () => {
    for (const tpl of [t, three]) {
      const sweeps = Object.values(tpl.findResources('AWS::Scheduler::Schedule')).filter((s) => String(s.Properties.Target.Input ?? '').includes('"sweep"'));
      expect(sweeps).toHaveLength(1);
      expect(sweeps[0]!.Properties.ScheduleExpression).toBe('rate(1 hour)');
      expect(refsOf(sweeps[0]!.Properties.Target.Arn)[0]).toMatch(/SecretsFunction/);
    }
  });

  it('puts the emergency rotate-all-secrets runbook behind approval and a typed confirmation', () => {
    const doc = Object.values(t.findResources('AWS::SSM::Document')).map((d) => d.Properties.Content).find((c) => String(c.description).includes('EMERGENCY'))!;
    expect(doc.mainSteps[0]).toMatchObject({ action: 'aws:approve', inputs: { Approvers: [APPROVER] } });
    expect(doc.parameters.Confirm.allowedValues).toEqual(['ROTATE-ALL']);
    expect(new RegExp(doc.parameters.Stack.allowedPattern).test('*')).toBe(true);
    expect(new RegExp(doc.parameters.Stack.allowedPattern).test('web')).toBe(true);
    expect(new RegExp(doc.parameters.Stack.allowedPattern).test('web;rm')).toBe(false);
  });
});
