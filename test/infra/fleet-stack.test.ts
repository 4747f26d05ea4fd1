import { Match, type Template } from 'aws-cdk-lib/assertions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadFleetFile } from '../../lib/config/load.js';
import { LAMBDA_RUNTIME } from '../../lib/runtime.js';
import { documentsOf } from '../support/document-runner.js';
import { demoFleet, EXAMPLES } from '../support/fleets.js';
import { synthFleet, withoutAssetHashes } from '../support/synth.js';

let template: Template;
beforeAll(() => {
  template = synthFleet(demoFleet()).template;
});

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

  it('defines the health-check document without a fixed name, with validated parameters', () => {
    // Prepare
    const [doc] = resources('AWS::SSM::Document');
    const content = Object.values(documentsOf(template.toJSON() as never))[0]!;
    // Assess
    expect(doc!.Properties.Name).toBeUndefined();
    expect(doc!.Properties.DocumentType).toBe('Command');
    expect(content.parameters.Stack!.allowedValues).toEqual(['batch', 'web']);
    expect(content.parameters.RunId!.allowedPattern).toBe('^[A-Za-z0-9][A-Za-z0-9-]{0,63}$');
    expect(content.parameters.ExecutionTimeout!.allowedPattern).toBe('^[1-9][0-9]{1,4}$');
    for (const p of Object.values(content.parameters)) expect(p.allowedValues ?? p.allowedPattern).toBeDefined();
    const script = content.mainSteps[0]!.inputs.runCommand.join('\n');
    expect(script).toContain('if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi');
    expect(script).toContain('set -euo pipefail');
    expect([...script.matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((m) => m[1])).toEqual(['Stack', 'RunId']);
  });

  it('schedules each stack in its own time zone, with retries and a DLQ', () => {
    const schedules = resources('AWS::Scheduler::Schedule').map((s) => s.Properties);
    expect(schedules.map((s) => [JSON.parse(s.Target.Input).stack, s.ScheduleExpression, s.ScheduleExpressionTimezone])).toEqual([
      ['web', 'cron(*/15 * * * ? *)', 'UTC'],
      ['batch', 'cron(0 9 * * ? *)', 'Europe/Berlin'],
    ]);
    for (const s of schedules) {
      expect(JSON.parse(s.Target.Input)).toMatchObject({ runbook: 'health-check', trigger: 'schedule' });
      expect(s.Target.RetryPolicy).toEqual({ MaximumEventAgeInSeconds: 3600, MaximumRetryAttempts: 3 });
      expect(s.Target.DeadLetterConfig.Arn).toBeDefined();
    }
  });

  it('bundles every function for ARM64 on the one runtime, with a DLQ and its own log group', () => {
    const fns = resources('AWS::Lambda::Function').map((f) => f.Properties);
    expect(fns).toHaveLength(3);
    for (const f of fns) {
      expect(f).toMatchObject({ Runtime: LAMBDA_RUNTIME.name, Architectures: ['arm64'], Handler: 'index.handler' });
      expect(f.DeadLetterConfig.TargetArn).toBeDefined();
      expect(f.LoggingConfig.LogGroup).toBeDefined();
    }
  });

  it('routes finished invocations of its own documents to the result function', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.ssm'],
        'detail-type': ['EC2 Command Invocation Status-change Notification', 'EC2 Command Status-change Notification'],
        detail: { 'document-name': [{ Ref: Match.stringLikeRegexp('HealthCheckDocument') }, { Ref: Match.stringLikeRegexp('RestartDocument') }], status: [{ 'anything-but': ['Pending', 'InProgress', 'Delayed', 'Cancelling'] }] },
      },
      Targets: [Match.objectLike({ RetryPolicy: { MaximumEventAgeInSeconds: 7200, MaximumRetryAttempts: 4 }, DeadLetterConfig: Match.anyValue() })],
    });
  });

  it('lets the dispatcher send only its documents, only to hosts with the fleet tag', () => {
    const policies = resources('AWS::IAM::Policy').map((p) => p.Properties);
    const dispatcher = policies.find((p) => p.Roles[0].Ref.startsWith('DispatcherRole'))!;
    const statements = dispatcher.PolicyDocument.Statement as any[];
    const send = statements.filter((s) => [s.Action].flat().includes('ssm:SendCommand'));
    expect(send).toHaveLength(2);
    const toHosts = send.find((s) => s.Condition)!;
    expect(toHosts.Condition).toEqual({ StringEquals: { 'ssm:resourceTag/shipshape:fleet': 'demo' } });
    expect(JSON.stringify(toHosts.Resource)).toMatch(/instance\/\*.*managed-instance\/\*/);
    const toDoc = send.find((s) => !s.Condition)!;
    expect(JSON.stringify(toDoc.Resource)).toMatch(/document\/.*HealthCheckDocument/);
    for (const s of statements) expect([s.Action].flat().some((a: string) => a === '*' || a.endsWith(':*'))).toBe(false);
  });

  it('uses no AWS managed policies', () => {
    for (const role of resources('AWS::IAM::Role')) expect(role.Properties.ManagedPolicyArns).toBeUndefined();
  });

  it('offers a host policy that writes command output and backups, reads backups, and deletes nothing', () => {
    const [policy] = resources('AWS::IAM::ManagedPolicy');
    const statements = policy!.Properties.PolicyDocument.Statement as { Sid: string; Action: string | string[] }[];
    expect(statements.map((st) => [st.Sid, [st.Action].flat().join(',')])).toEqual([
      ['WriteCommandOutput', 's3:PutObject'],
      ['EncryptCommandOutput', 'kms:Encrypt,kms:GenerateDataKey'],
      ['WriteBackups', 's3:AbortMultipartUpload,s3:PutObject'],
      ['ReadBackups', 's3:GetObject'],
      ['ListBackups', 's3:ListBucket'],
      ['DecryptBackups', 'kms:Decrypt'],
    ]);
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

  it('raises a missed-run alarm per scheduled stack, treating missing data as breaching', () => {
    const alarms = resources('AWS::CloudWatch::Alarm').map((a) => a.Properties).filter((a) => String(a.AlarmName).endsWith('-missed'));
    expect(alarms.map((a) => [a.AlarmName, a.Period, a.EvaluationPeriods, a.TreatMissingData, a.ComparisonOperator])).toEqual([
      ['shipshape-demo-web-health-check-missed', 1200, 1, 'breaching', 'LessThanThreshold'],
      ['shipshape-demo-batch-health-check-missed', 86400, 2, 'breaching', 'LessThanThreshold'],
    ]);
    expect(alarms[0]!.Dimensions).toEqual(expect.arrayContaining([{ Name: 'stack', Value: 'web' }, { Name: 'runbook', Value: 'health-check' }, { Name: 'service', Value: 'shipshape-result' }]));
  });

  it('alarms on function errors, throttles and dead letters, and routes every alarm change to the result function', () => {
    const names = resources('AWS::CloudWatch::Alarm').map((a) => a.Properties.AlarmName);
    expect(names).toEqual(expect.arrayContaining(['shipshape-demo-dispatcher-errors', 'shipshape-demo-result-errors', 'shipshape-demo-dispatcher-throttles', 'shipshape-demo-dead-letters']));
    const rule = resources('AWS::Events::Rule').map((r) => r.Properties).find((r) => r.EventPattern.source[0] === 'aws.cloudwatch')!;
    expect(rule.EventPattern.resources).toHaveLength(names.length);
    expect(JSON.stringify(rule.Targets)).toMatch(/ResultProcessorFunction/);
  });

  it('offers console runbooks whose every parameter is validated', () => {
    const docs = resources('AWS::SSM::Document').map((d) => d.Properties).filter((d) => d.DocumentType === 'Automation');
    // health-check-now, silence, last-runs, restart-service (no backups in this fleet)
    expect(docs).toHaveLength(4);
    for (const d of docs) {
      expect(d.Name).toBeUndefined();
      expect(d.Content.description.length).toBeGreaterThan(80);
      for (const [name, p] of Object.entries<any>(d.Content.parameters)) expect(p.allowedValues ?? p.allowedPattern, name).toBeDefined();
      expect(['aws:invokeLambdaFunction', 'aws:runCommand']).toContain(d.Content.mainSteps[0].action);
    }
    const silence = docs.find((d) => d.Content.parameters.Hours)!;
    expect(silence.Content.parameters.Stack.allowedValues).toEqual(['*', 'batch', 'web']);
    expect(JSON.parse(silence.Content.mainSteps[0].inputs.Payload)).toEqual({ action: 'silence', stack: '{{ Stack }}', host: '{{ Host }}', check: '{{ Check }}', hours: '{{ Hours }}', reason: '{{ Reason }}' });
  });

  it('offers restart-service on a chosen host, and gates it behind an approver when configured', () => {
    const restart = resources('AWS::SSM::Document').map((d) => d.Properties.Content).find((c) => String(c.description).includes('restart services of a stack on one host'))!;
    expect(restart.mainSteps.map((st: { action: string }) => st.action)).toEqual(['aws:runCommand']);
    expect(restart.parameters.Services.allowedPattern).toBe('^([*]|[a-z][a-z0-9-]{0,39}(,[a-z][a-z0-9-]{0,39}){0,49})$');
    const gated = synthFleet(demoFleet((f) => (f.console = { approvers: ['arn:aws:iam::111122223333:role/OnCallLead'] }))).template;
    const doc = Object.values(gated.findResources('AWS::SSM::Document')).map((d) => d.Properties.Content).find((c) => String(c.description).includes('restart services of a stack on one host'))!;
    expect(doc.mainSteps.map((st: { action: string }) => st.action)).toEqual(['aws:approve', 'aws:runCommand']);
  });

  it('lets the result function restart only when a service asks for automatic restarts', () => {
    const sends = (t: typeof template) => JSON.stringify(Object.values(t.findResources('AWS::IAM::Policy')).map((p) => p.Properties).filter((p) => p.Roles[0].Ref.startsWith('ResultProcessorRole'))).includes('ssm:SendCommand');
    expect(sends(template)).toBe(false);
    expect(sends(synthFleet(demoFleet((f) => (f.stacks[0]!.services[0]!.remediation = { restart: true }))).template)).toBe(true);
  });

  it('subscribes escalation recipients to escalations only', () => {
    const t = synthFleet(demoFleet((f) => (f.alerts = { ...f.alerts, escalation: { afterMinutes: 30, recipients: [{ email: 'boss@example.com' }] } }))).template;
    t.hasResourceProperties('AWS::SNS::Subscription', { Endpoint: 'boss@example.com', FilterPolicy: { severity: ['escalation'] } });
  });

  it('adds an integrity document and its weekly schedule only for stacks that ask for checks', () => {
    const t = synthFleet(demoFleet((f) => (f.stacks[1]!.integrity = { sqlite: [{ name: 'db', container: 'batch-worker-1', path: '/data/x.db' }] }))).template;
    const doc = Object.values(t.findResources('AWS::SSM::Document')).map((d) => d.Properties.Content).find((c) => String(c.description).includes(': integrity checks'))!;
    expect(doc.parameters.Stack.allowedValues).toEqual(['batch']);
    const schedule = Object.values(t.findResources('AWS::Scheduler::Schedule')).map((r) => r.Properties).find((p) => JSON.parse(p.Target.Input).runbook === 'integrity')!;
    expect([schedule.ScheduleExpression, JSON.parse(schedule.Target.Input).stack]).toEqual(['cron(0 3 ? * SUN *)', 'batch']);
  });

  it('adds a maintenance document that carries both the backup spec and its own', () => {
    const t = synthFleet(demoFleet((f) => {
      f.stacks[0]!.backup = { sqlite: [{ name: 'db', container: 'web-db-1', path: '/data/db' }] };
      f.stacks[0]!.maintenance = { sqlite: [{ name: 'db', container: 'web-db-1', path: '/data/db' }], prune: { images: true } };
    })).template;
    const doc = Object.values(t.findResources('AWS::SSM::Document')).map((d) => d.Properties.Content).find((c) => String(c.description).includes(': maintenance of'))!;
    const script = JSON.stringify(doc.mainSteps[0].inputs.runCommand);
    expect(script).toContain("web) SHIPSHAPE_SPEC_B64='");
    expect(script).toContain("web) SHIPSHAPE_MAINTENANCE_B64='");
    expect(doc.parameters.Stack.allowedValues).toEqual(['web']);
  });

  describe('backups', () => {
    const withBackup = (lock?: { mode: 'governance' | 'compliance'; days: number }) => synthFleet(demoFleet((f) => {
      f.stacks[0]!.backup = { sqlite: [{ name: 'db', container: 'web-db-1', path: '/data/app.db' }], schedule: { cron: '0 2 * * ? *', timezone: 'Europe/Berlin' }, maxAgeHours: 48 };
      if (lock) f.backupStorage = { objectLock: lock };
    })).template;

    it('adds a backup document only for stacks with a backup, its schedule, and a missing-backup alarm', () => {
      const t = withBackup();
      const docs = Object.values(t.findResources('AWS::SSM::Document')).map((d) => d.Properties.Content).filter((c) => String(c.description).includes(': backup of a Docker-compose'));
      expect(docs).toHaveLength(1);
      expect(docs[0].parameters.Stack.allowedValues).toEqual(['web']);
      expect(JSON.stringify(docs[0].mainSteps[0].inputs.runCommand)).toContain("export SHIPSHAPE_BUCKET='");
      const schedule = Object.values(t.findResources('AWS::Scheduler::Schedule')).map((r) => r.Properties).find((p) => JSON.parse(p.Target.Input).runbook === 'backup')!;
      expect([schedule.ScheduleExpression, schedule.ScheduleExpressionTimezone]).toEqual(['cron(0 2 * * ? *)', 'Europe/Berlin']);
      t.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: 'shipshape-demo-web-backup-missing', MetricName: 'BackupsVerified', Period: 86400, EvaluationPeriods: 2, TreatMissingData: 'breaching' });
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
    const withSecrets = () => synthFleet(demoFleet((f) => {
      f.stacks[0]!.secrets = [
        { name: 'jwt', envFile: '/opt/web/.env', variable: 'JWT_SECRET', previousVariable: 'JWT_SECRET_PREVIOUS', rotationDays: 30, restart: ['api'] },
        { name: 'hmac', secretArn: ADOPTED, envFile: '/opt/web/.env', variable: 'HMAC_KEY', rotationDays: 7 },
      ];
    })).template;
    const statements = (t: Template, type: string) => Object.values(t.findResources(type)).flatMap((r) => r.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown; Sid?: string }[]);
    const actions = (st: { Action: string | string[] }) => [st.Action].flat();

    it('creates managed secrets with the fleet key, adopts given ones, and rotates both on their schedules', () => {
      // Act
      const t = withSecrets();
      // Assess
      t.resourceCountIs('AWS::SecretsManager::Secret', 1);
      t.hasResourceProperties('AWS::SecretsManager::Secret', { Name: 'shipshape/demo/web/jwt', KmsKeyId: Match.anyValue() });
      t.hasResourceProperties('AWS::SecretsManager::RotationSchedule', { SecretId: Match.objectLike({ Ref: Match.anyValue() }), RotationRules: { ScheduleExpression: 'rate(30 days)' } });
      t.hasResourceProperties('AWS::SecretsManager::RotationSchedule', { SecretId: ADOPTED, RotationRules: { ScheduleExpression: 'rate(7 days)' } });
      t.hasResourceProperties('AWS::Lambda::Permission', { Action: 'lambda:InvokeFunction', Principal: 'secretsmanager.amazonaws.com' });
    });

    it('lets the rotation function touch only the configured secrets, and the hosts of a stack read only its own', () => {
      // Act
      const t = withSecrets();
      // Assess
      // GetRandomPassword (added by RotationSchedule) reads no secret and has no resource type.
      const secretStatements = statements(t, 'AWS::IAM::Policy').filter((st) => actions(st).some((a) => a.startsWith('secretsmanager:') && a !== 'secretsmanager:GetRandomPassword'));
      expect(secretStatements.length).toBeGreaterThan(0);
      for (const st of secretStatements) {
        expect(JSON.stringify(st.Resource)).not.toContain('"*"');
        expect(JSON.stringify(st.Resource)).toContain(ADOPTED);
      }
      const host = Object.values(t.findResources('AWS::IAM::ManagedPolicy')).map((r) => r.Properties).find((p) => String(p.Description).includes('read its secrets'))!;
      const read = host.PolicyDocument.Statement.find((st: { Sid: string }) => st.Sid === 'ReadStackSecrets');
      expect(read.Action).toBe('secretsmanager:GetSecretValue');
      expect(read.Resource).toHaveLength(2);
      expect(JSON.stringify(host.PolicyDocument)).not.toMatch(/PutSecretValue|UpdateSecretVersionStage|RotateSecret/);
    });

    it('offers rotate-secret-now and rollback-secret runbooks limited to the configured secrets', () => {
      const t = withSecrets();
      const automation = Object.values(t.findResources('AWS::SSM::Document')).map((d) => d.Properties.Content).filter((c) => c.schemaVersion === '0.3');
      const rotateNow = automation.find((c) => String(c.description).includes('rotate one application secret now'))!;
      const rollback = automation.find((c) => String(c.description).includes('put the previous value'))!;
      expect(rotateNow.parameters.Secret.allowedValues).toEqual(['web/hmac', 'web/jwt']);
      expect(JSON.parse(rotateNow.mainSteps.at(-1).inputs.Payload)).toEqual({ action: 'rotate-now', secret: '{{ Secret }}' });
      expect(rollback.mainSteps.at(-1).timeoutSeconds).toBe(900);
    });

    it('reports secret ages daily and alarms when a secret outlives its rotation period plus slack', () => {
      const t = withSecrets();
      const schedule = Object.values(t.findResources('AWS::Scheduler::Schedule')).map((r) => r.Properties).find((p) => JSON.parse(p.Target.Input).action === 'report-age')!;
      expect(schedule.ScheduleExpression).toBe('cron(30 6 * * ? *)');
      t.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: 'shipshape-demo-web-jwt-secret-age', MetricName: 'SecretAgeDays', Threshold: 32, ComparisonOperator: 'GreaterThanThreshold',
        Dimensions: Match.arrayWith([{ Name: 'secret', Value: 'web/jwt' }]),
      });
      t.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: 'shipshape-demo-web-hmac-secret-age', Threshold: 9 });
      const body = JSON.stringify(Object.values(t.findResources('AWS::CloudWatch::Dashboard'))[0]!.Properties.DashboardBody);
      expect(body).toContain('Secret age (days) and alarm limits');
      expect(body).toContain('limit 32 d');
    });

    it('adds no rotation function, secret or runbook when no stack has secrets', () => {
      template.resourceCountIs('AWS::SecretsManager::RotationSchedule', 0);
      expect(JSON.stringify(template.toJSON())).not.toContain('rotate one application secret now');
    });
  });

  it('has a dashboard for the fleet, with health by host from the result logs', () => {
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    const body = JSON.stringify(resources('AWS::CloudWatch::Dashboard')[0]!.Properties.DashboardBody);
    for (const title of ['Hosts failing health checks, by stack', 'Health by host (latest result)', 'Dead-letter queue depth', 'Function errors', 'Alarms']) expect(body).toContain(title);
  });

  it('links alerts to the console runbooks', () => {
    const fn = resources('AWS::Lambda::Function').map((f) => f.Properties).find((f) => f.Environment.Variables.SHIPSHAPE_RUNBOOKS)!;
    expect(JSON.stringify(fn.Environment.Variables.SHIPSHAPE_RUNBOOKS)).toMatch(/restart-service.*silence|silence.*restart-service/);
  });

  it('matches the snapshot (asset hashes left out)', () => {
    expect(withoutAssetHashes(template)).toMatchSnapshot();
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
