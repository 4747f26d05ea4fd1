import { App, Duration, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import type { Fleet } from '../../lib/config/schema.js';
import { AlertTopic } from '../../lib/constructs/alert-topic.js';
import { ShipshapeFunction } from '../../lib/constructs/function.js';
import { Notifier, type CommonFunctionProps } from '../../lib/constructs/notifier.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SelfMonitoring } from '../../lib/constructs/self-monitoring.js';
import { demoFleet } from '../support/fleets.js';

const SECRET = (n: string) => `arn:aws:secretsmanager:eu-central-1:123456789012:secret:${n}-AbCdEf`;

/**
 * A small stack with the pieces the constructs need; no Lambda bundling (the template is what is
 * tested), no built-in CloudFormation validation (it only warns; see test/support/synth.ts).
 */
function build(fleet: Fleet, withNotifier: boolean) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
  const stack = new Stack(app, 'T', { env: { account: '123456789012', region: 'eu-central-1' } });
  const key = new kms.Key(stack, 'Key', { enableKeyRotation: true });
  const dlq = new sqs.Queue(stack, 'Dlq', { encryption: sqs.QueueEncryption.SQS_MANAGED, enforceSSL: true });
  Validations.of(dlq).acknowledge({ id: 'AwsSolutions-SQS3', reason: 'It is the dead-letter queue.' });
  const table = new dynamodb.Table(stack, 'State', {
    partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING }, sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST, pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
  });
  const alerts = new AlertTopic(stack, 'Alerts', { masterKey: key, recipients: fleet.alerts.recipients, escalation: fleet.alerts.escalation ?? [], displayName: 'shipshape demo' });
  const configFile = join(mkdtempSync(join(tmpdir(), 'shipshape-')), 'fleet.json');
  writeFileSync(configFile, JSON.stringify(fleet));
  // fleetJson for the ShipshapeFunction of before the config-file change, configFile after it.
  const common = { configFile, fleetJson: JSON.stringify(fleet), logKey: key, deadLetterQueue: dlq } as unknown as CommonFunctionProps;
  const result = new ShipshapeFunction(stack, 'Result', { ...common, entry: 'result', description: 'result' });
  const resultErrors = result.function.metricErrors({ period: Duration.minutes(5) }).createAlarm(stack, 'ResultErrors', {
    alarmName: 'shipshape-demo-result-errors', threshold: 1, evaluationPeriods: 1, treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  const notifier = withNotifier ? new Notifier(stack, 'Notifier', { fleet, common, alertTopic: alerts.topic, stateTable: table, key }) : undefined;
  const monitoring = new SelfMonitoring(stack, 'SelfMonitoring', {
    alarms: [resultErrors, ...(notifier?.alarms ?? [])], key, recipients: fleet.alerts.recipients, displayName: 'shipshape demo alarms',
    ...(notifier ? { notifier: notifier.fn.function, deadLetterQueue: dlq } : {}),
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { template: Template.fromStack(stack), stack, monitoring };
}

const chatFleet = demoFleet((f) => {
  f.alerts!.recipients = [
    { email: 'ops@example.com', severities: ['critical', 'warning'] },
    { email: 'lead@example.com', severities: ['warning'] },
    { slack: { secretArn: SECRET('slack') }, severities: ['critical', 'warning'] },
    { pagerduty: { secretArn: SECRET('pd') }, severities: ['critical'] },
  ];
  f.alerts!.escalation = [
    { afterMinutes: 15, recipients: [{ email: 'sysadmin@example.com' }] },
    { afterMinutes: 60, recipients: [{ email: 'engineering@example.com' }, { opsgenie: { secretArn: SECRET('og') } }] },
  ];
});
const refTo = (template: Template, type: string, pathPart: string) => Object.keys(template.findResources(type)).find((id) => id.startsWith(pathPart))!;

describe('SelfMonitoring', () => {
  it('makes every alarm act on the alarms topic, on ALARM and on OK', () => {
    // Act
    const { template } = build(chatFleet, true);
    // Assess
    const topic = refTo(template, 'AWS::SNS::Topic', 'SelfMonitoringAlarmsTopic');
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')) as { Properties: any }[];
    expect(alarms.length).toBe(3);
    for (const a of alarms) {
      expect(a.Properties.AlarmActions).toEqual([{ Ref: topic }]);
      expect(a.Properties.OKActions).toEqual([{ Ref: topic }]);
    }
  });

  it('lets CloudWatch use the key and publish to the topic, for this account only', () => {
    // Act
    const { template } = build(chatFleet, false);
    // Assess
    template.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: { Statement: Match.arrayWith([Match.objectLike({
        Sid: 'CloudWatchAlarmsPublishToEncryptedTopics', Principal: { Service: 'cloudwatch.amazonaws.com' },
        Action: ['kms:Decrypt', 'kms:GenerateDataKey*'], Condition: { StringEquals: { 'aws:SourceAccount': '123456789012' } },
      })]) },
    });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Sid: 'CloudWatchAlarmsOfThisAccount', Action: 'sns:Publish', Principal: { Service: 'cloudwatch.amazonaws.com' } })]) },
    });
  });

  it('subscribes the recipients of critical alerts without a filter policy (CloudWatch sends no attributes)', () => {
    // Act
    const { template } = build(chatFleet, true);
    // Assess
    const topic = refTo(template, 'AWS::SNS::Topic', 'SelfMonitoringAlarmsTopic');
    const subs = (Object.values(template.findResources('AWS::SNS::Subscription')) as { Properties: any }[]).filter((s) => s.Properties.TopicArn.Ref === topic);
    expect(subs.map((s) => [s.Properties.Protocol, s.Properties.Endpoint?.['Fn::GetAtt']?.[0]?.replace(/[0-9A-F]{8}$/, '') ?? s.Properties.Endpoint]).sort()).toEqual([
      ['email', 'ops@example.com'], ['lambda', 'NotifierFunction'],
    ]);
    for (const s of subs) expect(s.Properties.FilterPolicy).toBeUndefined();
  });

  it('scenario: the result function fails on every event, and its alarm still reaches a person', () => {
    // Prepare: the path from the alarm to a subscriber must not pass through the result function.
    const { template } = build(chatFleet, false);
    const alarm = Object.values(template.findResources('AWS::CloudWatch::Alarm', { Properties: { AlarmName: 'shipshape-demo-result-errors' } }))[0] as { Properties: any };
    // Act: follow alarm -> topic -> subscription
    const topicId = alarm.Properties.AlarmActions[0].Ref as string;
    const topic = template.findResources('AWS::SNS::Topic')[topicId] as { Properties: any };
    const subscribers = (Object.values(template.findResources('AWS::SNS::Subscription')) as { Properties: any }[]).filter((s) => s.Properties.TopicArn.Ref === topicId);
    // Assess: the alarm watches the result function's errors, acts on an encrypted topic CloudWatch may use,
    // and an email subscription without a filter takes every message on it.
    expect(alarm.Properties).toMatchObject({ MetricName: 'Errors', Namespace: 'AWS/Lambda', Threshold: 1 });
    expect(alarm.Properties.Dimensions[0].Value.Ref).toMatch(/^ResultFunction/);
    expect(topic.Properties.KmsMasterKeyId).toBeDefined();
    expect(subscribers).toContainEqual(expect.objectContaining({ Properties: expect.objectContaining({ Protocol: 'email', Endpoint: 'ops@example.com' }) }));
    expect(subscribers.find((s) => s.Properties.Protocol === 'email')!.Properties.FilterPolicy).toBeUndefined();
    expect(JSON.stringify(subscribers)).not.toMatch(/ResultFunction/);
  });
});

describe('Notifier', () => {
  it('is subscribed to the alert topic with a filter on the severities its receivers take, and a DLQ', () => {
    // Act
    const { template } = build(chatFleet, true);
    // Assess
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'lambda', TopicArn: { Ref: Match.stringLikeRegexp('^AlertsTopic') },
      FilterPolicy: { severity: ['critical', 'escalation', 'warning'] }, RedrivePolicy: { deadLetterTargetArn: Match.anyValue() },
    });
  });

  it('reads only its receivers\' secrets, and the template holds no webhook URL or key', () => {
    // Act
    const { template } = build(chatFleet, true);
    // Assess
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Sid: 'ReadReceiverSecrets', Action: 'secretsmanager:GetSecretValue', Resource: [SECRET('slack'), SECRET('pd'), SECRET('og')] })]) },
    });
    const json = JSON.stringify(template.toJSON());
    expect(json).not.toMatch(/hooks\.slack\.com|events\.pagerduty\.com|webhook\.office\.com/);
    template.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ SHIPSHAPE_STATE_TABLE: { Ref: Match.stringLikeRegexp('^State') } }) } });
  });

  it('has alarms of its own', () => {
    // Act
    const { template } = build(chatFleet, true);
    // Assess
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: 'shipshape-demo-notifier-errors', MetricName: 'Errors' });
  });

  it('fails when the fleet has no chat or pager receiver', () => {
    expect(Notifier.needed(demoFleet())).toBe(false);
    expect(() => build(demoFleet(), true)).toThrow(/no slack, teams, pagerduty or opsgenie recipient/);
  });
});

describe('AlertTopic escalation levels', () => {
  it('subscribes each level\'s recipients to escalations of that level only; chat recipients go to the notifier', () => {
    // Act
    const { template } = build(chatFleet, true);
    // Assess
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'sysadmin@example.com', FilterPolicy: { severity: ['escalation'], level: ['1'] } });
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'engineering@example.com', FilterPolicy: { severity: ['escalation'], level: ['2'] } });
    const endpoints = JSON.stringify(template.findResources('AWS::SNS::Subscription'));
    expect(endpoints).not.toContain('secretsmanager');
  });
});

describe('AlertTopic endpoints with several roles', () => {
  it('subscribes an address that is a recipient and an escalation level once, with an $or filter', () => {
    // Prepare: DigitalMe's emergency address gets critical alerts and the level-2 escalation
    const fleet = demoFleet((f) => {
      f.alerts!.recipients = [{ email: 'emergency@example.com', severities: ['critical'] }];
      f.alerts!.escalation = [{ afterMinutes: 15, recipients: [{ email: 'eng@example.com' }] }, { afterMinutes: 60, recipients: [{ email: 'emergency@example.com' }] }];
    });
    // Act
    const { template } = build(fleet, false);
    // Assess
    const emergency = (Object.values(template.findResources('AWS::SNS::Subscription')) as { Properties: any }[])
      .filter((s) => s.Properties.Endpoint === 'emergency@example.com' && s.Properties.TopicArn.Ref.startsWith('AlertsTopic'));
    expect(emergency.map((s) => s.Properties.FilterPolicy)).toEqual([{ $or: [{ severity: ['critical'] }, { severity: ['escalation'], level: ['2'] }] }]);
  });
});
