/**
 * The documented AWS limits a fleet meets first as it grows (/work/shared/AWS-LIMITS.md), each
 * asserted on generated fleets of 1, 50 and 300 stacks with every feature on and the longest
 * names the schema allows. Tokens are resolved to realistic lengths before measuring.
 */
import { readFileSync } from 'node:fs';
import { App, NestedStack, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { FleetStack } from '../../lib/stacks/fleet-stack.js';
import { commandComment, COMMENT_LIMIT } from '../../lambdas/shared/command-comment.js';
import { MAX_RUN_ID, newRunId } from '../../lambdas/dispatcher/dispatch.js';
import { RUNBOOK_NAMES } from '../../lib/runbooks/names.js';
import { generatedFleet } from '../support/generated-fleet.js';

// Sources: /work/shared/AWS-LIMITS.md (collected from the AWS quotas pages named there).
const LIMITS = {
  templateResources: 500, // CloudFormation quotas: resources per stack
  templateBytes: 1_000_000, // CloudFormation quotas: template body via S3, 1 MB
  outputs: 200, // CloudFormation quotas: outputs per stack
  documentBytes: 64 * 1024, // Systems Manager quotas: maximum document size, 64 KB
  eventPattern: 2048, // EventBridge quotas: event pattern size (default quota)
  lambdaEnvironment: 4096, // Lambda quotas: environment variables, 4 KB total
  inlinePolicies: 10_240, // IAM quotas: inline policies per role, characters without whitespace
  managedPolicy: 6144, // IAM quotas: managed policy size
  alarmRange: 604_800, // PutMetricAlarm: Period x EvaluationPeriods <= 7 days
  comment: COMMENT_LIMIT, // SendCommand: Comment <= 100 characters
};

/** Realistic lengths for what CloudFormation fills in at deploy time (the longest commonly seen). */
function realize(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(realize);
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1) {
      const [k] = keys as [string];
      const arg = o[k];
      if (k === 'Ref') {
        const ref = String(arg);
        if (ref === 'AWS::Partition') return 'aws-us-gov';
        if (ref === 'AWS::Region') return 'ap-southeast-2';
        if (ref === 'AWS::AccountId') return '123456789012';
        if (ref === 'AWS::URLSuffix') return 'amazonaws.com.cn';
        return 'r'.repeat(64);
      }
      if (k === 'Fn::GetAtt') {
        const attr = String((arg as unknown[])[1]);
        return attr.endsWith('Arn') ? `arn:aws-us-gov:service:ap-southeast-2:123456789012:${'a'.repeat(80)}` : 'g'.repeat(80);
      }
      if (k === 'Fn::Join') {
        const [sep, parts] = arg as [string, unknown[]];
        return (realize(parts) as unknown[]).map(String).join(sep);
      }
      if (k === 'Fn::Select' || k === 'Fn::Split' || k === 'Fn::Sub' || k === 'Fn::ImportValue' || k === 'Fn::If') return 's'.repeat(64);
    }
    return Object.fromEntries(keys.map((key) => [key, realize(o[key])]));
  }
  return v;
}
const size = (v: unknown) => JSON.stringify(realize(v)).length;
const noSpace = (v: unknown) => JSON.stringify(realize(v)).replace(/\s/g, '').length;

function synth(stacks: number) {
  const { fleet: _default, ...flags } = JSON.parse(readFileSync('cdk.json', 'utf8')).context as Record<string, unknown>;
  // No asset bundling or staging: the limits concern templates, not function code. No built-in
  // CloudFormation validation either (it only warns; see test/support/synth.ts).
  const app = new App({ context: { ...flags, 'aws:cdk:bundling-stacks': [], 'aws:cdk:disable-asset-staging': true }, builtinCloudFormationValidation: false });
  const stack = new FleetStack(app, 'Limits', { fleet: generatedFleet(stacks) });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const nested = stack.node.findAll().filter((c): c is NestedStack => c instanceof NestedStack);
  const templates = [stack as Stack, ...nested].map((s) => ({ id: s.node.path, template: Template.fromStack(s).toJSON() as { Resources: Record<string, { Type: string; Properties: any }>; Outputs?: object } }));
  return { stack, templates };
}

const resourcesOf = (templates: ReturnType<typeof synth>['templates'], type: string) =>
  templates.flatMap((t) => Object.entries(t.template.Resources).filter(([, r]) => r.Type === type).map(([id, r]) => ({ id, props: r.Properties ?? {} })));

describe.each([1, 50, 51, 300])('a generated fleet of %i stacks', (stacks) => {
  const { templates } = synth(stacks);

  it('stays within CloudFormation: resources, template size and outputs per template', () => {
    expect(templates.length).toBe(stacks > 50 ? 1 + Math.ceil(stacks / 50) : 1);
    for (const { id, template } of templates) {
      expect(Object.keys(template.Resources).length, `${id} resources`).toBeLessThanOrEqual(LIMITS.templateResources * 0.8);
      expect(JSON.stringify(template).length, `${id} bytes`).toBeLessThanOrEqual(LIMITS.templateBytes * 0.8);
      expect(Object.keys(template.Outputs ?? {}).length, `${id} outputs`).toBeLessThanOrEqual(LIMITS.outputs / 2);
    }
  });

  it('keeps every SSM document under 64 KB, with every parameter default matching its own pattern', () => {
    expect(resourcesOf(templates, 'AWS::SSM::Document').length).toBeGreaterThanOrEqual(8 + 10);
    for (const { id, props } of resourcesOf(templates, 'AWS::SSM::Document')) {
      expect(size(props.Content), `${id} content`).toBeLessThanOrEqual(LIMITS.documentBytes * 0.8);
      for (const [name, p] of Object.entries<any>(props.Content.parameters ?? {})) {
        if (p.default === undefined || typeof p.default !== 'string' || p.default.includes('{{')) continue;
        if (p.allowedPattern) expect(new RegExp(p.allowedPattern).test(p.default), `${id} ${name} default ${p.default}`).toBe(true);
        if (p.allowedValues) expect(p.allowedValues, `${id} ${name}`).toContain(p.default);
      }
    }
  });

  it('keeps every event pattern under 2,048 characters with names and ARNs filled in', () => {
    expect(resourcesOf(templates, 'AWS::Events::Rule').length).toBeGreaterThanOrEqual(1);
    for (const { id, props } of resourcesOf(templates, 'AWS::Events::Rule')) {
      expect(size(props.EventPattern), id).toBeLessThanOrEqual(LIMITS.eventPattern * 0.8);
      expect(JSON.stringify(props.EventPattern), `${id} lists no alarm ARNs`).not.toMatch(/"resources"/);
    }
  });

  it('keeps every Lambda environment under 4 KB', () => {
    expect(resourcesOf(templates, 'AWS::Lambda::Function').length).toBeGreaterThanOrEqual(7);
    for (const { id, props } of resourcesOf(templates, 'AWS::Lambda::Function')) {
      const vars = realize(props.Environment?.Variables ?? {}) as Record<string, string>;
      const bytes = Object.entries(vars).reduce((n, [k, v]) => n + k.length + String(v).length, 0);
      expect(bytes, id).toBeLessThanOrEqual(LIMITS.lambdaEnvironment * 0.8);
    }
  });

  it('keeps the inline policies of every role under 10,240 characters and managed policies under 6,144', () => {
    const perRole = new Map<string, number>();
    for (const { props } of resourcesOf(templates, 'AWS::IAM::Policy')) {
      for (const role of props.Roles ?? []) {
        const key = JSON.stringify(role);
        perRole.set(key, (perRole.get(key) ?? 0) + noSpace(props.PolicyDocument));
      }
    }
    for (const { id, props } of resourcesOf(templates, 'AWS::IAM::Role')) {
      const inline = (props.Policies ?? []).reduce((n: number, p: { PolicyDocument: unknown }) => n + noSpace(p.PolicyDocument), 0);
      perRole.set(JSON.stringify({ Ref: id }), (perRole.get(JSON.stringify({ Ref: id })) ?? 0) + inline);
    }
    expect(perRole.size).toBeGreaterThanOrEqual(7);
    for (const [role, chars] of perRole) expect(chars, role).toBeLessThanOrEqual(LIMITS.inlinePolicies * 0.8);
    for (const { id, props } of resourcesOf(templates, 'AWS::IAM::ManagedPolicy')) expect(noSpace(props.PolicyDocument), id).toBeLessThanOrEqual(LIMITS.managedPolicy * 0.8);
  });

  it('keeps every alarm within 7 days of evaluation', () => {
    expect(resourcesOf(templates, 'AWS::CloudWatch::Alarm').length).toBeGreaterThanOrEqual(13);
    for (const { id, props } of resourcesOf(templates, 'AWS::CloudWatch::Alarm')) {
      expect((props.Period ?? 60) * (props.EvaluationPeriods ?? 1), id).toBeLessThanOrEqual(LIMITS.alarmRange);
    }
  });

  it('adds schedules per distinct schedule, not per stack and runbook', () => {
    const schedules = resourcesOf(templates, 'AWS::Scheduler::Schedule');
    const distinct = new Set(schedules.map((s) => `${s.props.ScheduleExpression}@${s.props.ScheduleExpressionTimezone ?? 'UTC'}`));
    expect(schedules.length).toBe(distinct.size);
    // Health checks at 15 offsets x 4 zones, backups and drills in 4 zones, integrity, maintenance, retention, watchdog.
    expect(schedules.length).toBeLessThanOrEqual(60 + 4 + 4 + 1 + 1 + 2);
  });

  it('keeps SendCommand comments within 100 characters for the longest names', () => {
    const longestRunbook = [...RUNBOOK_NAMES].sort((a, b) => b.length - a.length)[0]!;
    const stack = 's'.repeat(40);
    expect(commandComment(stack, longestRunbook, 'e'.repeat(MAX_RUN_ID)).length).toBeLessThanOrEqual(LIMITS.comment);
    expect(newRunId(new Date(), Math.random).length).toBeLessThanOrEqual(MAX_RUN_ID);
    for (const { id, props } of resourcesOf(templates, 'AWS::SSM::Document').filter((d) => d.props.DocumentType === 'Automation')) {
      for (const step of props.Content.mainSteps as { inputs: { Comment?: string } }[]) {
        const comment = step.inputs.Comment;
        if (!comment) continue;
        const filled = comment.replace('{{ Stack }}', stack).replace('{{ automation:EXECUTION_ID }}', 'e'.repeat(36));
        expect(filled.length, `${id} ${comment}`).toBeLessThanOrEqual(LIMITS.comment);
      }
    }
  });
});
