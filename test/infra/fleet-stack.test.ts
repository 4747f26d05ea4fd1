import { Match, type Template } from 'aws-cdk-lib/assertions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadFleetFile } from '../../lib/config/load.js';
import { documentsOf } from '../support/document-runner.js';
import { demoFleet, EXAMPLES } from '../support/fleets.js';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FleetConfig } from '../../lib/config/schema.js';
import { specKey } from '../../lib/runbooks/spec.js';
import { unpackedScript } from '../../lib/runbooks/document.js';
import type { FleetStack } from '../../lib/stacks/fleet-stack.js';
import { forSnapshot, synthFleet } from '../support/synth.js';

// One synth per distinct fleet in this file (each costs ~0.3 s of CPU): the demo fleet's stack
// and template, and below the backup and secrets variants, are shared by the tests reading them.
let template: Template;
let demoStack: FleetStack;
beforeAll(() => {
  ({ template, stack: demoStack } = synthFleet(demoFleet()));
});
const once = <T>(make: () => T): (() => T) => {
  let made: T | undefined;
  return () => (made ??= make());
};

const resources = (type: string) => Object.values(template.findResources(type)) as { Properties: any }[];

describe('FleetStack', () => {
  it('encrypts with one customer key that rotates', () => {
    template.resourceCountIs('AWS::KMS::Key', 1);
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    template.hasResourceProperties('AWS::Logs::LogGroup', { KmsKeyId: Match.anyValue(), RetentionInDays: 90 });
  });

  it('subscribes each recipient with a severity filter policy and enforces TLS on the topic', () => {
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com', FilterPolicy: { severity: ['critical', 'warning'] } });
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'lead@example.com', FilterPolicy: { severity: ['critical'] } });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });

  it('subscribes SMS, HTTPS and SQS recipients with their filter policies too', () => {
    // Prepare
    const fleet = demoFleet((f) => {
      f.alerts!.recipients = [
        { sms: '+4915112345678', severities: ['critical'] },
        { https: 'https://hooks.example.com/shipshape', severities: ['critical', 'warning', 'info'] },
        { sqs: 'arn:aws:sqs:eu-central-1:111122223333:ops-alerts', severities: ['warning'] },
      ];
    });
    // Act
    const t = synthFleet(fleet).template;
    // Assess
    t.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'sms', Endpoint: '+4915112345678', FilterPolicy: { severity: ['critical'] } });
    t.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'https', Endpoint: 'https://hooks.example.com/shipshape', FilterPolicy: { severity: ['critical', 'warning', 'info'] } });
    t.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'sqs', Endpoint: 'arn:aws:sqs:eu-central-1:111122223333:ops-alerts', FilterPolicy: { severity: ['warning'] } });
  });

  it('keeps command output in a private, versioned, KMS-encrypted, logged bucket that expires it', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [Match.objectLike({ ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: Match.anyValue() } })] },
      VersioningConfiguration: { Status: 'Enabled' },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      LoggingConfiguration: Match.objectLike({ LogFilePrefix: 'access-logs/' }),
      LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ Prefix: 'command-output/', ExpirationInDays: 30 })]) },
    });
  });

  it('defines one generic document per runbook, without a fixed name and the same size whatever the stacks', () => {
    // Prepare
    const docs = resources('AWS::SSM::Document').filter((d) => d.Properties.DocumentType === 'Command');
    const grown = synthFleet(demoFleet((f) => {
      for (let i = 0; i < 20; i++) f.stacks.push({ ...f.stacks[0]!, name: `extra-${i}` });
    })).template;
    const size = (t: Template) => JSON.stringify(Object.values(t.findResources('AWS::SSM::Document')).map((d) => d.Properties.Content)).length;
    // Assess
    expect(docs.map((d) => d.Properties.Content.mainSteps.at(-1).name).sort()).toEqual(['healthCheck', 'preflight', 'restart']);
    for (const d of docs) expect(d.Properties.Name).toBeUndefined();
    expect(size(grown)).toBe(size(template));
  });

  it('fetches the stack spec with aws:downloadContent before the script, and validates every parameter', () => {
    // Prepare
    const content = Object.values(documentsOf(template.toJSON() as never)).find((c) => c.mainSteps.at(-1)!.name === 'healthCheck')! as any;
    // Assess
    expect(content.mainSteps[0]).toMatchObject({ action: 'aws:downloadContent', name: 'fetchSpec', inputs: { sourceType: 'S3', destinationPath: 'shipshape-spec/' } });
    expect(JSON.stringify(content.mainSteps[0].inputs.sourceInfo)).toContain('/specs/v1/{{ Stack }}.spec');
    expect(content.parameters.Stack.allowedPattern).toBe('^([a-z][a-z0-9-]{0,38}[a-z0-9]|[a-z])$');
    expect(content.parameters.Stack.allowedValues).toBeUndefined();
    expect(content.parameters.RunId!.allowedPattern).toBe('^[A-Za-z0-9][A-Za-z0-9-]{0,35}$');
    for (const t of ['10', '300', '99999', '100000', '172800']) expect(new RegExp(content.parameters.ExecutionTimeout.allowedPattern).test(t), t).toBe(true);
    for (const t of ['9', '172801', '999999', '0300']) expect(new RegExp(content.parameters.ExecutionTimeout.allowedPattern).test(t), t).toBe(false);
    for (const p of Object.values<any>(content.parameters)) expect(p.allowedValues ?? p.allowedPattern).toBeDefined();
    const script = content.mainSteps[1].inputs.runCommand.join('\n');
    expect(script).toContain('if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi');
    expect(unpackedScript(content.mainSteps[1].inputs.runCommand)).toContain('set -euo pipefail');
    expect(script).toContain('exec bash "$shipshape_main"');
    expect(script).toContain('/../downloads/shipshape-spec/$SHIPSHAPE_STACK.spec"');
    expect(script).toContain("export SHIPSHAPE_REGION='");
    expect([...script.matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((m) => m[1])).toEqual(['Stack', 'RunId', 'ExecutionTimeout']);
  });

  it('uploads one spec per stack under specs/v1/ and lets hosts read specs but never write them', () => {
    // Prepare
    const stack = demoStack;
    // Assess
    expect(readdirSync(stack.data.specDir).sort()).toEqual(['batch.spec', 'web.spec']);
    const spec = readFileSync(join(stack.data.specDir, 'web.spec'), 'utf8');
    expect(spec.startsWith('shipshape-spec\t1\nstack\tweb\n')).toBe(true);
    expect(spec).toMatch(/\nsection\thealth-check\n(disk\t[^\n]*\n)?container\tapi\tweb-api-1\t/);
    expect(specKey('web')).toBe('specs/v1/web.spec');
    template.hasResourceProperties('Custom::CDKBucketDeployment', { DestinationBucketKeyPrefix: 'specs/v1/', Prune: true });
    const host = resources('AWS::IAM::ManagedPolicy').find((p) => String(p.Properties.Description).includes('every host'))!;
    const statements = host.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[];
    const specs = statements.filter((st) => JSON.stringify(st.Resource).includes('specs/v1/'));
    expect(specs.flatMap((st) => [st.Action].flat())).toEqual(['s3:GetObject']);
    const writes = statements.filter((st) => [st.Action].flat().some((a) => a.startsWith('s3:Put')));
    for (const st of writes) expect(JSON.stringify(st.Resource)).not.toContain('specs/');
    expect(JSON.stringify(statements)).not.toMatch(/Delete/);
  });

  it('gives every function the fleet config as a file, never through a process argument or its environment', () => {
    // Prepare
    const stack = demoStack;
    // Assess
    expect(FleetConfig.parse(JSON.parse(readFileSync(stack.data.configFile, 'utf8'))).fleet).toBe('demo');
    for (const f of resources('AWS::Lambda::Function').map((r) => r.Properties)) {
      expect(JSON.stringify(f.Environment?.Variables ?? {})).not.toContain('"stacks"');
    }
  });

  it('schedules per distinct schedule and time zone, passing the scheduled time, with retries and a DLQ', () => {
    // Prepare: three stacks, two of which share a schedule.
    const t = synthFleet(demoFleet((f) => f.stacks.push({ ...f.stacks[0]!, name: 'web-two' }))).template;
    const schedules = Object.values(t.findResources('AWS::Scheduler::Schedule')).map((s) => s.Properties);
    const dispatched = schedules.map((s) => JSON.parse(s.Target.Input)).filter((p) => p.trigger === 'schedule');
    // Assess
    expect(dispatched.map((p) => p.schedule).sort()).toEqual(['cron(*/15 * * * ? *)@UTC', 'cron(0 9 * * ? *)@Europe/Berlin', 'cron(30 6 * * ? *)@UTC']);
    for (const p of dispatched) expect(p.scheduledTime).toBe('<aws.scheduler.scheduled-time>');
    const berlin = schedules.find((s) => s.ScheduleExpressionTimezone === 'Europe/Berlin')!;
    expect(berlin.ScheduleExpression).toBe('cron(0 9 * * ? *)');
    for (const s of schedules) {
      expect(s.Target.RetryPolicy).toEqual({ MaximumEventAgeInSeconds: 3600, MaximumRetryAttempts: 3 });
      expect(s.Target.DeadLetterConfig.Arn).toBeDefined();
    }
  });

  it('runs the preflight daily, from the console, and once after each deploy that changes the config', () => {
    const inputs = resources('AWS::Scheduler::Schedule').map((s) => [s.Properties.ScheduleExpression, JSON.parse(s.Properties.Target.Input).schedule]);
    expect(inputs).toContainEqual(['cron(30 6 * * ? *)', 'cron(30 6 * * ? *)@UTC']);
    const trigger = Object.values(template.findResources('Custom::AWS')).map((r) => JSON.stringify(r.Properties.Create))[0]!;
    expect(trigger).toMatch(/trigger\W+deploy\W+runbook\W+preflight\W+deployId\W+[0-9a-f]{16}/);
    const { stack: changed } = synthFleet(demoFleet((f) => (f.stacks[0]!.services[0]!.critical = false)));
    expect(changed.data.configHash).not.toBe(demoStack.data.configHash);
    const automation = resources('AWS::SSM::Document').map((d) => d.Properties.Content).filter((c) => c.schemaVersion === '0.3');
    expect(automation.some((c) => String(c.description).includes('run the preflight of one stack now'))).toBe(true);
  });

  it('runs the watchdog every five minutes instead of an alarm per stack', () => {
    const schedules = resources('AWS::Scheduler::Schedule').map((s) => s.Properties);
    const watchdog = schedules.find((s) => JSON.parse(s.Target.Input).action === 'watch')!;
    expect(watchdog.ScheduleExpression).toBe('rate(5 minutes)');
    expect(resources('AWS::CloudWatch::Alarm').map((a) => a.Properties.AlarmName).filter((n: string) => n.endsWith('-missed') || n.endsWith('-missing'))).toEqual([]);
  });

  it('routes finished invocations of its own documents to the result function', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.ssm'],
        'detail-type': ['EC2 Command Invocation Status-change Notification', 'EC2 Command Status-change Notification'],
        detail: { 'document-name': [{ Ref: Match.stringLikeRegexp('HealthCheckDocument') }, { Ref: Match.stringLikeRegexp('RestartDocument') }, { Ref: Match.stringLikeRegexp('PreflightDocument') }], status: [{ 'anything-but': ['Pending', 'InProgress', 'Delayed', 'Cancelling'] }] },
      },
      Targets: [Match.objectLike({ RetryPolicy: { MaximumEventAgeInSeconds: 7200, MaximumRetryAttempts: 4 }, DeadLetterConfig: Match.anyValue() })],
    });
  });

  it('lets the dispatcher send only its documents, only to hosts with the fleet tag', () => {
    const policies = resources('AWS::IAM::Policy').map((p) => p.Properties);
    const dispatcher = policies.find((p) => p.Roles[0].Ref.startsWith('DispatcherRole'))!;
    const statements = dispatcher.PolicyDocument.Statement as any[];
    const send = statements.filter((s) => [s.Action].flat().includes('ssm:SendCommand'));
    const toHosts = send.find((s) => s.Condition)!;
    expect(toHosts.Condition).toEqual({ StringEquals: { 'ssm:resourceTag/shipshape:fleet': 'demo' } });
    expect(JSON.stringify(toHosts.Resource)).toMatch(/instance\/\*.*managed-instance\/\*/);
    const toDoc = send.filter((s) => !s.Condition);
    expect(JSON.stringify(toDoc.map((s) => s.Resource))).toMatch(/document\/.*HealthCheckDocument/);
    for (const s of statements) expect([s.Action].flat().some((a: string) => a === '*' || a.endsWith(':*'))).toBe(false);
  });

  it('uses no AWS managed policies', () => {
    for (const role of resources('AWS::IAM::Role')) expect(role.Properties.ManagedPolicyArns).toBeUndefined();
  });

  it('offers a host policy that writes command output and backups, reads specs and backups, and deletes nothing', () => {
    const policy = resources('AWS::IAM::ManagedPolicy').find((p) => String(p.Properties.Description).includes('every host'))!;
    const statements = policy.Properties.PolicyDocument.Statement as { Sid?: string; Action: string | string[] }[];
    const actions = statements.flatMap((st) => [st.Action].flat()).sort();
    expect([...new Set(actions)]).toEqual(['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 's3:AbortMultipartUpload', 's3:GetObject', 's3:ListBucket', 's3:PutObject']);
    expect(JSON.stringify(statements)).not.toMatch(/Delete/);
  });

  it('keeps alert state in an encrypted table with point-in-time recovery and expiry', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }],
      BillingMode: 'PAY_PER_REQUEST',
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: Match.anyValue() },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
  });

  it('alarms on function errors, throttles and dead letters, acting directly on the alarms topic, never through a rule listing ARNs', () => {
    const alarms = resources('AWS::CloudWatch::Alarm').map((a) => a.Properties);
    const names = alarms.map((a) => a.AlarmName as string);
    expect(names).toEqual(expect.arrayContaining(['shipshape-demo-dispatcher-errors', 'shipshape-demo-result-errors', 'shipshape-demo-watchdog-errors', 'shipshape-demo-dispatcher-throttles', 'shipshape-demo-dead-letters']));
    for (const a of alarms) {
      expect(a.AlarmName.startsWith('shipshape-demo-')).toBe(true);
      expect(JSON.stringify(a.AlarmActions)).toMatch(/SelfMonitoringAlarmsTopic/);
      expect(JSON.stringify(a.OKActions)).toMatch(/SelfMonitoringAlarmsTopic/);
    }
    expect(resources('AWS::Events::Rule').map((r) => r.Properties.EventPattern.source[0])).toEqual(['aws.ssm']);
  });

  it('offers console runbooks whose every parameter is validated by a pattern that does not grow with the fleet', () => {
    const docs = resources('AWS::SSM::Document').map((d) => d.Properties).filter((d) => d.DocumentType === 'Automation');
    // health-check-now, preflight-now, restart-service, silence, last-runs, acknowledge, send-test-alert (no backups in this fleet)
    expect(docs).toHaveLength(7);
    for (const d of docs) {
      expect(d.Name).toBeUndefined();
      expect(d.Content.description.length).toBeGreaterThan(80);
      for (const [name, p] of Object.entries<any>(d.Content.parameters)) expect(p.allowedValues ?? p.allowedPattern, name).toBeDefined();
      if (d.Content.parameters.Stack) expect(d.Content.parameters.Stack.allowedValues).toBeUndefined();
      expect(['aws:invokeLambdaFunction', 'aws:runCommand']).toContain(d.Content.mainSteps.at(-1).action);
    }
    const silence = docs.find((d) => d.Content.parameters.Hours)!;
    expect(new RegExp(silence.Content.parameters.Stack.allowedPattern).test('*')).toBe(true);
    expect(JSON.parse(silence.Content.mainSteps[0].inputs.Payload)).toEqual({ action: 'silence', stack: '{{ Stack }}', host: '{{ Host }}', check: '{{ Check }}', hours: '{{ Hours }}', reason: '{{ Reason }}' });
  });

  it('offers restart-service on a chosen host, and gates it behind an approver when configured', () => {
    const restart = resources('AWS::SSM::Document').map((d) => d.Properties.Content).find((c) => String(c.description).includes('restart services of a stack on one host'))!;
    expect(restart.mainSteps.map((st: { action: string }) => st.action)).toEqual(['aws:runCommand']);
    expect(restart.mainSteps[0].inputs.Comment).toBe('shipshape {{ Stack }} restart {{ automation:EXECUTION_ID }}');
    expect(restart.parameters.Services.allowedPattern).toBe('^([*]|[a-z][a-z0-9-]{0,39}(,[a-z][a-z0-9-]{0,39}){0,49})$');
    const gated = synthFleet(demoFleet((f) => (f.console = { approvers: ['arn:aws:iam::111122223333:role/OnCallLead'] }))).template;
    const doc = Object.values(gated.findResources('AWS::SSM::Document')).map((d) => d.Properties.Content).find((c) => String(c.description).includes('restart services of a stack on one host'))!;
    expect(doc.mainSteps.map((st: { action: string }) => st.action)).toEqual(['aws:approve', 'aws:runCommand']);
  });

  it('lets the result function restart only when a service asks for automatic restarts', () => {
    const sends = (t: typeof template) => JSON.stringify(Object.values(t.findResources('AWS::IAM::Policy')).map((p) => p.Properties).filter((p) => p.Roles[0].Ref.startsWith('ResultsFunctionRole'))).includes('ssm:SendCommand');
    expect(sends(template)).toBe(false);
    expect(sends(synthFleet(demoFleet((f) => (f.stacks[0]!.services[0]!.remediation = { restart: true }))).template)).toBe(true);
  });

  it('adds integrity and maintenance documents and their schedules only when a stack asks for them', () => {
    const t = synthFleet(demoFleet((f) => {
      f.stacks[1]!.integrity = { sqlite: [{ name: 'db', container: 'batch-worker-1', path: '/data/x.db' }] };
      f.stacks[0]!.backup = { sqlite: [{ name: 'db', container: 'web-db-1', path: '/data/db' }] };
      f.stacks[0]!.maintenance = { sqlite: [{ name: 'db', container: 'web-db-1', path: '/data/db' }], prune: { images: true } };
    })).template;
    const steps = Object.values(t.findResources('AWS::SSM::Document')).map((d) => d.Properties.Content).filter((c) => c.schemaVersion === '2.2').map((c) => c.mainSteps.at(-1).name).sort();
    expect(steps).toEqual(['backup', 'drill', 'healthCheck', 'integrity', 'maintenance', 'preflight', 'restart', 'restore']);
    const inputs = Object.values(t.findResources('AWS::Scheduler::Schedule')).map((r) => JSON.parse(r.Properties.Target.Input));
    expect(inputs.map((p) => p.schedule).filter(Boolean).sort()).toEqual(['cron(*/15 * * * ? *)@UTC', 'cron(0 2 * * ? *)@UTC', 'cron(0 2 ? * SUN *)@UTC', 'cron(0 3 ? * SUN *)@UTC', 'cron(0 5 ? * SUN *)@UTC', 'cron(0 9 * * ? *)@Europe/Berlin', 'cron(30 6 * * ? *)@UTC']);
  });

  describe('backups', () => {
    const backupFleet = (lock?: { mode: 'governance' | 'compliance'; days: number }) => synthFleet(demoFleet((f) => {
      f.stacks[0]!.backup = { sqlite: [{ name: 'db', container: 'web-db-1', path: '/data/app.db' }], schedule: { cron: '0 2 * * ? *', timezone: 'Europe/Berlin' }, maxAgeHours: 48 };
      if (lock) f.backupStorage = { objectLock: lock };
    })).template;
    const withoutLock = once(() => backupFleet());
    const withBackup = (lock?: { mode: 'governance' | 'compliance'; days: number }) => (lock ? backupFleet(lock) : withoutLock());

    it('adds backup, restore and drill documents that know the backup bucket', () => {
      const t = withBackup();
      const doc = Object.values(t.findResources('AWS::SSM::Document')).map((d) => d.Properties.Content).find((c) => String(c.description).includes(': backup of a Docker-compose'))!;
      expect(JSON.stringify(doc.mainSteps[1].inputs.runCommand)).toContain("export SHIPSHAPE_BUCKET='");
      const schedule = Object.values(t.findResources('AWS::Scheduler::Schedule')).map((r) => r.Properties).find((p) => JSON.parse(p.Target.Input).schedule === 'cron(0 2 * * ? *)@Europe/Berlin')!;
      expect([schedule.ScheduleExpression, schedule.ScheduleExpressionTimezone]).toEqual(['cron(0 2 * * ? *)', 'Europe/Berlin']);
    });

    it('offers backup-now and restore runbooks; restore runs the restore document on the chosen host, after approval when configured', () => {
      const t = withBackup();
      const automation = Object.values(t.findResources('AWS::SSM::Document')).map((d) => d.Properties.Content).filter((c) => c.schemaVersion === '0.3');
      const restore = automation.find((c) => String(c.description).includes('restore a backup'))!;
      expect(restore.mainSteps.map((st: { action: string }) => st.action)).toEqual(['aws:runCommand']);
      expect(restore.mainSteps[0].inputs.InstanceIds).toEqual(['{{ Host }}']);
      expect(restore.mainSteps[0].inputs.Parameters.RunId).toEqual(['{{ automation:EXECUTION_ID }}']);
      expect(restore.parameters.Host.allowedPattern).toBe('^(i-[0-9a-f]{8}|i-[0-9a-f]{17}|mi-[0-9a-f]{17})$');
      expect(automation.some((c) => String(c.description).includes('back up one stack now'))).toBe(true);
      const approved = synthFleet(demoFleet((f) => {
        f.stacks[0]!.backup = { volumes: [{ name: 'v' }] };
        f.console = { approvers: ['arn:aws:iam::111122223333:role/OnCallLead'] };
      })).template;
      const gated = Object.values(approved.findResources('AWS::SSM::Document')).map((d) => d.Properties.Content).find((c) => String(c.description).includes('restore a backup'))!;
      expect(gated.mainSteps.map((st: { action: string }) => st.action)).toEqual(['aws:approve', 'aws:runCommand']);
      expect(gated.mainSteps[0].inputs.Approvers).toEqual(['arn:aws:iam::111122223333:role/OnCallLead']);
      // Unverified runs only behind an approver.
      expect(gated.parameters.AllowUnverified.allowedValues).toEqual(['false', 'true']);
      expect(restore.parameters.AllowUnverified.allowedValues).toEqual(['false']);
      expect(gated.mainSteps[1].inputs.Parameters.AllowUnverified).toEqual(['{{ AllowUnverified }}']);
    });

    it('keeps backups versioned, encrypted, moving to cheaper storage, and locked only when asked', () => {
      const plain = withBackup();
      plain.hasResourceProperties('AWS::S3::Bucket', {
        VersioningConfiguration: { Status: 'Enabled' },
        LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ Transitions: [{ StorageClass: 'STANDARD_IA', TransitionInDays: 30 }, { StorageClass: 'GLACIER_IR', TransitionInDays: 90 }] })]) },
      });
      expect(JSON.stringify(plain.toJSON())).not.toContain('ObjectLockConfiguration');
      withBackup({ mode: 'compliance', days: 30 }).hasResourceProperties('AWS::S3::Bucket', {
        ObjectLockEnabled: true, ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 30 } } },
      });
    });
  });

  describe('secrets', () => {
    const ADOPTED = 'arn:aws:secretsmanager:eu-central-1:111122223333:secret:legacy/hmac-AbCdEf';
    const withSecrets = once(() => synthFleet(demoFleet((f) => {
      f.stacks[0]!.secrets = [
        { name: 'jwt', envFile: '/opt/web/.env', variable: 'JWT_SECRET', previousVariable: 'JWT_SECRET_PREVIOUS', rotationDays: 30, restart: ['api'] },
        { name: 'hmac', secretArn: ADOPTED, envFile: '/opt/web/.env', variable: 'HMAC_KEY', rotationDays: 7 },
      ];
    })).template);
    const statements = (t: Template, type: string) => Object.values(t.findResources(type)).flatMap((r) => r.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown; Sid?: string; Condition?: unknown }[]);
    const actions = (st: { Action: string | string[] }) => [st.Action].flat();

    it('creates managed secrets with the fleet key and stack tags, adopts given ones, and never rotates at deploy', () => {
      // Act
      const t = withSecrets();
      // Assess
      t.resourceCountIs('AWS::SecretsManager::Secret', 1);
      t.hasResourceProperties('AWS::SecretsManager::Secret', { Name: 'shipshape/demo/web/jwt', KmsKeyId: Match.anyValue(), Tags: Match.arrayWith([{ Key: 'shipshape:stack', Value: 'web' }]) });
      t.hasResourceProperties('AWS::SecretsManager::RotationSchedule', { SecretId: Match.objectLike({ Ref: Match.anyValue() }), RotationRules: { ScheduleExpression: 'rate(30 days)' }, RotateImmediatelyOnUpdate: false });
      t.hasResourceProperties('AWS::SecretsManager::RotationSchedule', { SecretId: ADOPTED, RotationRules: { ScheduleExpression: 'rate(7 days)' }, RotateImmediatelyOnUpdate: false });
      for (const r of Object.values(t.findResources('AWS::SecretsManager::RotationSchedule'))) expect(r.Properties.RotateImmediatelyOnUpdate).toBe(false);
      t.hasResourceProperties('AWS::Lambda::Permission', { Action: 'lambda:InvokeFunction', Principal: 'secretsmanager.amazonaws.com' });
    });

    it('lets the rotation function touch only the fleet secrets, call RotateSecret and invoke itself as the API requires', () => {
      // Act
      const t = withSecrets();
      // Assess
      const rotationPolicies = Object.values(t.findResources('AWS::IAM::Policy')).filter((r) => JSON.stringify(r.Properties.Roles).includes('SecretsFunctionRole'));
      const secretStatements = rotationPolicies.flatMap((r) => r.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown; Condition?: unknown }[]).filter((st) => actions(st).some((a) => a.startsWith('secretsmanager:')));
      expect(secretStatements.length).toBeGreaterThan(0);
      for (const st of secretStatements) {
        const where = JSON.stringify(st.Resource);
        if (where.includes('secret:shipshape/demo/*')) continue;
        expect(st.Condition).toEqual({ StringEquals: { 'secretsmanager:ResourceTag/shipshape:fleet': 'demo' } });
      }
      expect(secretStatements.flatMap(actions)).toContain('secretsmanager:RotateSecret');
      const invoke = rotationPolicies.flatMap((r) => r.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[]).find((st) => actions(st).includes('lambda:InvokeFunction'))!;
      expect(JSON.stringify(invoke.Resource)).toMatch(/SecretsFunction/);
    });

    it('lets the hosts of a stack read only their own stack secrets, through one policy and the role tag', () => {
      const t = withSecrets();
      const host = Object.values(t.findResources('AWS::IAM::ManagedPolicy')).map((r) => r.Properties).find((p) => String(p.Description).includes('shipshape:stack=<stack>'))!;
      const read = host.PolicyDocument.Statement.find((st: { Sid: string }) => st.Sid === 'ReadOwnStackSecrets');
      expect(JSON.stringify(read.Resource)).toContain('secret:shipshape/demo/${aws:PrincipalTag/shipshape:stack}/*');
      const adopted = host.PolicyDocument.Statement.find((st: { Sid: string }) => st.Sid === 'ReadOwnStackAdoptedSecrets');
      expect(adopted.Condition.StringEquals['secretsmanager:ResourceTag/shipshape:stack']).toBe('${aws:PrincipalTag/shipshape:stack}');
      expect(JSON.stringify(host.PolicyDocument)).not.toMatch(/PutSecretValue|UpdateSecretVersionStage|RotateSecret/);
    });

    it('offers rotate-secret-now and rollback-secret runbooks with a pattern for <stack>/<name>', () => {
      const t = withSecrets();
      const automation = Object.values(t.findResources('AWS::SSM::Document')).map((d) => d.Properties.Content).filter((c) => c.schemaVersion === '0.3');
      const rotateNow = automation.find((c) => String(c.description).includes('rotate one application secret now'))!;
      const rollback = automation.find((c) => String(c.description).includes('put the previous value'))!;
      expect(new RegExp(rotateNow.parameters.Secret.allowedPattern).test('web/jwt')).toBe(true);
      expect(new RegExp(rotateNow.parameters.Secret.allowedPattern).test('web/jwt;rm')).toBe(false);
      expect(JSON.parse(rotateNow.mainSteps.at(-1).inputs.Payload)).toEqual({ action: 'rotate-now', secret: '{{ Secret }}' });
      expect(rollback.mainSteps.at(-1).timeoutSeconds).toBe(900);
    });

    it('adds no rotation function, secret or runbook when no stack has secrets', () => {
      template.resourceCountIs('AWS::SecretsManager::RotationSchedule', 0);
      expect(JSON.stringify(template.toJSON())).not.toContain('rotate one application secret now');
    });
  });

  it('has a dashboard for the fleet: alarms first, a 7-day range, per-stack graphs by SEARCH', () => {
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    const body = JSON.parse(JSON.stringify(resources('AWS::CloudWatch::Dashboard')[0]!.Properties.DashboardBody).replace(/\{"Ref":"[^"]+"\}/g, '"x"'));
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    for (const title of ['Hosts failing, by stack and runbook', 'Failing hosts now', 'Dead-letter queue depth', 'Function errors', 'shipshape alarms']) expect(text).toContain(title);
    expect(text).toContain('-P7D');
    expect(text).toContain('SEARCH(');
    expect(text.indexOf('shipshape alarms')).toBeLessThan(text.indexOf('Hosts failing'));
  });

  it('links alerts to the console runbooks', () => {
    const fn = resources('AWS::Lambda::Function').map((f) => f.Properties).find((f) => f.Environment?.Variables?.SHIPSHAPE_RUNBOOKS)!;
    expect(JSON.stringify(fn.Environment.Variables.SHIPSHAPE_RUNBOOKS)).toMatch(/restart-service.*silence|silence.*restart-service/);
  });

  it('matches the snapshot (asset hashes and document content left out)', () => {
    expect(forSnapshot(template)).toMatchSnapshot();
  });
});

describe('cdk-nag AwsSolutions', () => {
  it.each(EXAMPLES)('has no unacknowledged findings for config/%s.yaml', (name) => {
    expect(() => synthFleet(loadFleetFile(`config/${name}.yaml`))).not.toThrow();
  });

  it('fails when a resource breaks a rule, so the check above really runs', () => {
    expect(() => synthFleet(demoFleet(), (stack) => new sqs.Queue(stack, 'Careless', { encryption: sqs.QueueEncryption.UNENCRYPTED })))
      .toThrow(/AwsSolutions-SQS/);
  });
});
