import { Arn, CfnOutput, Duration, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { healthSchedule } from '../config/resolve.js';
import { FLEET_TAG_KEY } from '../config/schema.js';
import type { Fleet } from '../config/schema.js';
import { AlertTopic } from '../constructs/alert-topic.js';
import { ShipshapeFunction } from '../constructs/function.js';
import { RunCommandDocument } from '../constructs/run-command-document.js';
import { AutomationRunbook } from '../constructs/automation-runbook.js';
import { MissedRunAlarm } from '../constructs/missed-run-alarm.js';
import { acknowledgeWildcard, nagArnRef } from '../constructs/nag.js';
import { StateTable } from '../constructs/state-table.js';
import { ScheduledJob } from '../constructs/scheduled-job.js';
import { SecureBucket } from '../constructs/secure-bucket.js';
import { BACKUP, BACKUP_PREFIX, backupDocumentContent, DRILL, drillDocumentContent, RESTORE, restoreDocumentContent } from '../runbooks/backup.js';
import { HEALTH_CHECK, healthCheckDocumentContent } from '../runbooks/health-check.js';
import { RESTART, restartDocumentContent, SERVICES_PATTERN } from '../runbooks/restart.js';
import { INTEGRITY, integrityDocumentContent } from '../runbooks/integrity.js';
import { MAINTENANCE, maintenanceDocumentContent } from '../runbooks/maintenance.js';
import { APPLY_SECRET, applySecretDocumentContent, secretName } from '../runbooks/secrets.js';
import { NON_TERMINAL_STATUSES } from '../results/invocation-status.js';
import { INSTANCE_ID, SILENCE_CHECK, SILENCE_HOST, SILENCE_HOURS, SILENCE_REASON } from '../config/patterns.js';

export interface FleetStackProps extends StackProps {
  /** The validated fleet config (lib/config/load.ts). */
  readonly fleet: Fleet;
}

/** PascalCase construct-ID fragment from a config name ("web-api" -> "WebApi"). */
export function pascal(name: string): string {
  return name.split('-').map((p) => p.charAt(0).toUpperCase() + p.slice(1)).join('');
}

/** Everything one fleet needs: key, bucket, topic, documents, functions, schedules, rules. */
/** Days a secret may pass its rotation period before its age alarm fires. */
export const SECRET_AGE_SLACK_DAYS = 2;

export class FleetStack extends Stack {
  readonly key: kms.Key;
  readonly output: SecureBucket;
  readonly backups: SecureBucket;
  retention?: ShipshapeFunction;
  readonly alerts: AlertTopic;
  readonly deadLetterQueue: sqs.Queue;
  readonly documents: Record<string, RunCommandDocument> = {};
  readonly dispatcher: ShipshapeFunction;
  readonly resultProcessor: ShipshapeFunction;
  readonly hostPolicy: iam.ManagedPolicy;
  readonly state: StateTable;
  readonly console: ShipshapeFunction;
  readonly runbooks: Record<string, AutomationRunbook> = {};
  readonly alarms: cloudwatch.Alarm[] = [];
  rotation?: ShipshapeFunction;
  readonly stackHostPolicies: Record<string, iam.ManagedPolicy> = {};

  constructor(scope: Construct, id: string, props: FleetStackProps) {
    super(scope, id, { description: `shipshape: operations automation for the ${props.fleet.fleet} Docker fleet`, ...props });
    const { fleet } = props;

    this.key = new kms.Key(this, 'Key', {
      enableKeyRotation: true,
      description: `shipshape ${fleet.fleet}: encrypts alerts, command output and logs`,
      alias: `alias/shipshape/${fleet.fleet}`,
    });
    this.key.addToResourcePolicy(new iam.PolicyStatement({
      sid: 'CloudWatchLogsUseForThisAccountsLogGroups',
      principals: [new iam.ServicePrincipal(`logs.${this.region}.amazonaws.com`)],
      actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
      resources: ['*'],
      conditions: { ArnLike: { 'kms:EncryptionContext:aws:logs:arn': `arn:${this.partition}:logs:${this.region}:${this.account}:log-group:*` } },
    }));

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is the dead-letter queue of the schedules, the rule and the functions.',
    });

    this.output = new SecureBucket(this, 'Output', {
      encryptionKey: this.key,
      expiringPrefixes: ['command-output/'],
      expireAfter: Duration.days(fleet.defaults.outputRetentionDays),
    });
    this.alerts = new AlertTopic(this, 'Alerts', {
      masterKey: this.key, recipients: fleet.alerts.recipients, escalationRecipients: fleet.alerts.escalation?.recipients, displayName: `shipshape ${fleet.fleet}`,
    });
    this.state = new StateTable(this, 'State', { encryptionKey: this.key });

    this.documents[HEALTH_CHECK] = new RunCommandDocument(this, 'HealthCheckDocument', { content: healthCheckDocumentContent(fleet), fleet: fleet.fleet });
    const storage = fleet.backupStorage;
    this.backups = new SecureBucket(this, 'Backups', {
      encryptionKey: this.key,
      noncurrentVersionExpiration: Duration.days(storage.noncurrentDays),
      transitions: [
        { storageClass: s3.StorageClass.INFREQUENT_ACCESS, transitionAfter: Duration.days(storage.infrequentAccessAfterDays) },
        { storageClass: s3.StorageClass.GLACIER_INSTANT_RETRIEVAL, transitionAfter: Duration.days(storage.glacierAfterDays) },
      ],
      ...(storage.objectLock ? { objectLock: storage.objectLock } : {}),
    });
    const backupContent = backupDocumentContent(fleet, this.backups.bucket.bucketName);
    if (backupContent) this.documents[BACKUP] = new RunCommandDocument(this, 'BackupDocument', { content: backupContent, fleet: fleet.fleet });
    this.documents[RESTART] = new RunCommandDocument(this, 'RestartDocument', { content: restartDocumentContent(fleet), fleet: fleet.fleet });
    const applySecretContent = applySecretDocumentContent(fleet);
    if (applySecretContent) this.documents[APPLY_SECRET] = new RunCommandDocument(this, 'ApplySecretDocument', { content: applySecretContent, fleet: fleet.fleet });
    const integrityContent = integrityDocumentContent(fleet);
    if (integrityContent) this.documents[INTEGRITY] = new RunCommandDocument(this, 'IntegrityDocument', { content: integrityContent, fleet: fleet.fleet });
    const drillContent = drillDocumentContent(fleet, this.backups.bucket.bucketName);
    if (drillContent) this.documents[DRILL] = new RunCommandDocument(this, 'DrillDocument', { content: drillContent, fleet: fleet.fleet });
    const maintenanceContent = maintenanceDocumentContent(fleet, this.backups.bucket.bucketName);
    if (maintenanceContent) this.documents[MAINTENANCE] = new RunCommandDocument(this, 'MaintenanceDocument', { content: maintenanceContent, fleet: fleet.fleet });
    const restoreContent = restoreDocumentContent(fleet, this.backups.bucket.bucketName);
    if (restoreContent) this.documents[RESTORE] = new RunCommandDocument(this, 'RestoreDocument', { content: restoreContent, fleet: fleet.fleet });
    const documentNames = Object.fromEntries(Object.entries(this.documents).map(([runbook, doc]) => [runbook, doc.documentName]));
    const fleetJson = JSON.stringify(fleet);
    const common = {
      fleetJson,
      logKey: this.key,
      deadLetterQueue: this.deadLetterQueue,
      logRetentionDays: fleet.defaults.logRetentionDays,
    };
    const baseEnv = { SHIPSHAPE_FLEET_NAME: fleet.fleet, SHIPSHAPE_DOCUMENTS: Stack.of(this).toJsonString(documentNames) };

    this.dispatcher = new ShipshapeFunction(this, 'Dispatcher', {
      ...common,
      entry: 'dispatcher',
      description: `shipshape ${fleet.fleet}: sends runbook documents to the hosts of a stack`,
      timeout: Duration.minutes(5),
      environment: { ...baseEnv, SHIPSHAPE_OUTPUT_BUCKET: this.output.bucket.bucketName },
    });
    for (const doc of Object.values(this.documents)) doc.grantSendCommand(this.dispatcher.role);

    this.resultProcessor = new ShipshapeFunction(this, 'ResultProcessor', {
      ...common,
      entry: 'result',
      description: `shipshape ${fleet.fleet}: evaluates host results and sends alerts`,
      timeout: Duration.minutes(1),
      environment: {
        ...baseEnv, SHIPSHAPE_ALERT_TOPIC_ARN: this.alerts.topic.topicArn, SHIPSHAPE_STATE_TABLE: this.state.table.tableName,
        SHIPSHAPE_OUTPUT_BUCKET: this.output.bucket.bucketName,
      },
    });
    this.state.grantStateAccess(this.resultProcessor.role);
    // Automatic restarts, only where a service asks for them.
    if (fleet.stacks.some((st) => st.services.some((svc) => svc.remediation?.restart))) this.documents[RESTART].grantSendCommand(this.resultProcessor.role);
    this.resultProcessor.role.addToPolicy(new iam.PolicyStatement({
      sid: 'ReadCommandResults',
      actions: ['ssm:GetCommandInvocation', 'ssm:ListCommands'],
      resources: ['*'],
    }));
    Validations.of(this.resultProcessor.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'ssm:GetCommandInvocation and ssm:ListCommands support no resource-level permissions; both only read.',
    });
    this.resultProcessor.role.addToPolicy(new iam.PolicyStatement({
      sid: 'ReadCommandOutput', actions: ['s3:GetObject'], resources: [this.output.bucket.arnForObjects('command-output/*')],
    }));
    this.resultProcessor.role.addToPolicy(new iam.PolicyStatement({ sid: 'PublishAlerts', actions: ['sns:Publish'], resources: [this.alerts.topic.topicArn] }));
    this.resultProcessor.role.addToPolicy(new iam.PolicyStatement({
      sid: 'UseFleetKey', actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'], resources: [this.key.keyArn],
    }));
    this.resultProcessor.role.addToPolicy(new iam.PolicyStatement({
      sid: 'VerifyBackups', actions: ['s3:GetObject', 's3:PutObject'], resources: [this.backups.bucket.arnForObjects(`${BACKUP_PREFIX}/*`)],
    }));
    acknowledgeWildcard(this.resultProcessor.role, `Resource::${nagArnRef(this.backups.bucket)}/${BACKUP_PREFIX}/*`,
      'Backup keys carry stack, host and time; the function reads them to verify and writes only verified.json markers under backups/.');
    const outputPrefixReason = 'SSM names output objects by command and instance at run time; the grant is limited to the command-output/ prefix.';
    acknowledgeWildcard(this.resultProcessor.role, `Resource::${nagArnRef(this.output.bucket)}/command-output/*`, outputPrefixReason);

    new events.Rule(this, 'InvocationResults', {
      description: `shipshape ${fleet.fleet}: finished Run Command commands and invocations of this fleet's documents`,
      eventPattern: {
        source: ['aws.ssm'],
        // Per host (evaluate) and per command (send what its hosts found, grouped).
        detailType: ['EC2 Command Invocation Status-change Notification', 'EC2 Command Status-change Notification'],
        detail: { 'document-name': Object.values(documentNames), status: [{ 'anything-but': [...NON_TERMINAL_STATUSES] }] },
      },
      targets: [new eventTargets.LambdaFunction(this.resultProcessor.function, {
        deadLetterQueue: this.deadLetterQueue,
        retryAttempts: 4,
        maxEventAge: Duration.hours(2),
      })],
    });

    const group = new scheduler.ScheduleGroup(this, 'Schedules', {});
    // The scheduler targets' shared role may invoke any version of the dispatcher.
    acknowledgeWildcard(this, `Resource::${nagArnRef(this.dispatcher.function)}:*`,
      'EventBridge Scheduler invokes the dispatcher function and its versions; the grant names this one function.');
    for (const stack of fleet.stacks) {
      new ScheduledJob(this, `HealthCheck${pascal(stack.name)}`, {
        schedule: healthSchedule(fleet, stack),
        target: this.dispatcher.function,
        payload: { runbook: HEALTH_CHECK, stack: stack.name, trigger: 'schedule' },
        deadLetterQueue: this.deadLetterQueue,
        group,
        description: `shipshape ${fleet.fleet}: health check of stack ${stack.name}`,
      });
    }

    for (const stack of fleet.stacks.filter((st) => st.integrity)) {
      new ScheduledJob(this, `Integrity${pascal(stack.name)}`, {
        schedule: stack.integrity!.schedule,
        target: this.dispatcher.function,
        payload: { runbook: INTEGRITY, stack: stack.name, trigger: 'schedule' },
        deadLetterQueue: this.deadLetterQueue,
        group,
        description: `shipshape ${fleet.fleet}: integrity checks of stack ${stack.name}`,
      });
    }
    for (const stack of fleet.stacks.filter((st) => st.maintenance)) {
      new ScheduledJob(this, `Maintenance${pascal(stack.name)}`, {
        schedule: stack.maintenance!.schedule,
        target: this.dispatcher.function,
        payload: { runbook: MAINTENANCE, stack: stack.name, trigger: 'schedule' },
        deadLetterQueue: this.deadLetterQueue,
        group,
        description: `shipshape ${fleet.fleet}: maintenance of stack ${stack.name}`,
      });
    }
    for (const stack of fleet.stacks.filter((st) => st.backup)) {
      new ScheduledJob(this, `Backup${pascal(stack.name)}`, {
        schedule: stack.backup!.schedule,
        target: this.dispatcher.function,
        payload: { runbook: BACKUP, stack: stack.name, trigger: 'schedule' },
        deadLetterQueue: this.deadLetterQueue,
        group,
        description: `shipshape ${fleet.fleet}: backup of stack ${stack.name}`,
      });
      new ScheduledJob(this, `Drill${pascal(stack.name)}`, {
        schedule: stack.backup!.drill,
        target: this.dispatcher.function,
        payload: { runbook: DRILL, stack: stack.name, trigger: 'schedule' },
        deadLetterQueue: this.deadLetterQueue,
        group,
        description: `shipshape ${fleet.fleet}: restore drill of stack ${stack.name}`,
      });
    }

    if (fleet.stacks.some((st) => st.backup)) {
      this.retention = new ShipshapeFunction(this, 'Retention', {
        ...common,
        entry: 'retention',
        description: `shipshape ${fleet.fleet}: deletes backups outside the retention rules, never the last verified one`,
        timeout: Duration.minutes(15),
        environment: { ...baseEnv, SHIPSHAPE_BACKUP_BUCKET: this.backups.bucket.bucketName },
      });
      this.retention.role.addToPolicy(new iam.PolicyStatement({
        sid: 'ListBackups', actions: ['s3:ListBucket'], resources: [this.backups.bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${BACKUP_PREFIX}/*`] } },
      }));
      this.retention.role.addToPolicy(new iam.PolicyStatement({ sid: 'DeleteOldBackups', actions: ['s3:DeleteObject'], resources: [this.backups.bucket.arnForObjects(`${BACKUP_PREFIX}/*`)] }));
      acknowledgeWildcard(this.retention.role, `Resource::${nagArnRef(this.backups.bucket)}/${BACKUP_PREFIX}/*`,
        'Retention deletes whole runs under backups/<stack>/<host>/<time>/, known only at run time; the plan never deletes the last verified run.');
      acknowledgeWildcard(this, `Resource::${nagArnRef(this.retention.function)}:*`,
        'EventBridge Scheduler invokes the retention function and its versions; the grant names this one function.');
      new ScheduledJob(this, 'RetentionDaily', {
        schedule: { cron: '30 4 * * ? *', timezone: 'UTC', enabled: true },
        target: this.retention.function,
        payload: { dryRun: false },
        deadLetterQueue: this.deadLetterQueue,
        group,
        description: `shipshape ${fleet.fleet}: backup retention`,
      });
    }

    this.addSecrets(fleet, common, baseEnv, group);
    this.addAlarms(fleet);
    this.console = this.addConsoleRunbooks(fleet, common, baseEnv);
    this.resultProcessor.function.addEnvironment('SHIPSHAPE_RUNBOOKS',
      Stack.of(this).toJsonString(Object.fromEntries(Object.entries(this.runbooks).map(([name, rb]) => [name, rb.documentName]))));
    this.addDashboard(fleet);

    this.hostPolicy = new iam.ManagedPolicy(this, 'HostPolicy', {
      description: `shipshape ${fleet.fleet}: attach to the instance role of every host, next to AmazonSSMManagedInstanceCore`,
      statements: [
        new iam.PolicyStatement({ sid: 'WriteCommandOutput', actions: ['s3:PutObject'], resources: [this.output.bucket.arnForObjects('command-output/*')] }),
        new iam.PolicyStatement({ sid: 'EncryptCommandOutput', actions: ['kms:GenerateDataKey', 'kms:Encrypt'], resources: [this.key.keyArn] }),
        // Write-only: a compromised host can add backups but neither read nor delete any.
        new iam.PolicyStatement({ sid: 'WriteBackups', actions: ['s3:PutObject', 's3:AbortMultipartUpload'], resources: [this.backups.bucket.arnForObjects(`${BACKUP_PREFIX}/*`)] }),
        // Restores and drills read backups; nothing lets a host delete one.
        new iam.PolicyStatement({ sid: 'ReadBackups', actions: ['s3:GetObject'], resources: [this.backups.bucket.arnForObjects(`${BACKUP_PREFIX}/*`)] }),
        new iam.PolicyStatement({ sid: 'ListBackups', actions: ['s3:ListBucket'], resources: [this.backups.bucket.bucketArn], conditions: { StringLike: { 's3:prefix': [`${BACKUP_PREFIX}/*`] } } }),
        new iam.PolicyStatement({ sid: 'DecryptBackups', actions: ['kms:Decrypt'], resources: [this.key.keyArn] }),
      ],
    });
    acknowledgeWildcard(this.hostPolicy, `Resource::${nagArnRef(this.backups.bucket)}/${BACKUP_PREFIX}/*`,
      'Hosts write new backup objects under backups/<stack>/<host>/<time>/; per-host scoping is not expressible for hybrid nodes, and hosts get no read or delete.');
    acknowledgeWildcard(this.hostPolicy, `Resource::${nagArnRef(this.output.bucket)}/command-output/*`, outputPrefixReason);

    new CfnOutput(this, 'AlertTopicArn', { value: this.alerts.topic.topicArn, description: 'Subscribe more endpoints here (message attribute "severity")' });
    new CfnOutput(this, 'BackupBucketName', { value: this.backups.bucket.bucketName, description: 'Backups, under backups/<stack>/<host>/<time>/' });
    new CfnOutput(this, 'OutputBucketName', { value: this.output.bucket.bucketName, description: 'Full command output, under command-output/' });
    new CfnOutput(this, 'HostPolicyArn', { value: this.hostPolicy.managedPolicyArn, description: 'Attach to the instance role of every host' });
    new CfnOutput(this, 'DispatcherFunctionName', { value: this.dispatcher.function.functionName, description: 'Invoke with {"runbook":"health-check","stack":"<name>"}' });
    for (const [runbook, doc] of Object.entries(this.documents)) {
      new CfnOutput(this, `${pascal(runbook)}DocumentName`, { value: doc.documentName, description: `Run Command document for ${runbook}` });
    }
    for (const [name, rb] of Object.entries(this.runbooks)) {
      new CfnOutput(this, `${pascal(name)}RunbookName`, { value: rb.documentName, description: `Console runbook ${name} (Systems Manager > Automation)` });
    }
  }

  /** Metric the result Lambda emits per host evaluated (Powertools adds the service dimension). */
  hostsEvaluated(runbook: string, stack: string): cloudwatch.Metric {
    return new cloudwatch.Metric({ namespace: 'shipshape', metricName: 'HostsEvaluated', dimensionsMap: { service: 'shipshape-result', runbook, stack } });
  }

  private addAlarms(fleet: Fleet): void {
    for (const stack of fleet.stacks) {
      const schedule = healthSchedule(fleet, stack);
      if (!schedule.enabled) continue;
      const missed = new MissedRunAlarm(this, `MissedHealthCheck${pascal(stack.name)}`, {
        schedule,
        metric: this.hostsEvaluated(HEALTH_CHECK, stack.name),
        alarmName: `shipshape-${fleet.fleet}-${stack.name}-health-check-missed`,
        description: `No health-check result from stack ${stack.name} within its schedule plus grace: the schedule, the dispatcher, SSM or every host of the stack is broken. Run the health-check-now runbook and check the dead-letter queue.`,
      });
      this.alarms.push(missed.alarm);
    }
    for (const stack of fleet.stacks.filter((st) => st.backup?.schedule.enabled)) {
      const hours = stack.backup!.maxAgeHours;
      const missed = new MissedRunAlarm(this, `MissedBackup${pascal(stack.name)}`, {
        schedule: { rate: `${hours} ${hours === 1 ? 'hour' : 'hours'}`, timezone: 'UTC', enabled: true },
        graceMinutes: 0,
        metric: new cloudwatch.Metric({ namespace: 'shipshape', metricName: 'BackupsVerified', dimensionsMap: { service: 'shipshape-result', runbook: BACKUP, stack: stack.name } }),
        alarmName: `shipshape-${fleet.fleet}-${stack.name}-backup-missing`,
        description: `No verified backup of stack ${stack.name} in the last ${hours} hours. Read the last backup alerts, then run the backup-now runbook or the backup document by hand.`,
      });
      this.alarms.push(missed.alarm);
    }
    const watched: [string, ShipshapeFunction][] = [['dispatcher', this.dispatcher], ['result', this.resultProcessor], ...(this.retention ? [['retention', this.retention] as [string, ShipshapeFunction]] : []), ...(this.rotation ? [['rotation', this.rotation] as [string, ShipshapeFunction]] : [])];
    for (const [name, fn] of watched) {
      this.alarms.push(fn.function.metricErrors({ period: Duration.minutes(5) }).createAlarm(this, `${pascal(name)}Errors`, {
        alarmName: `shipshape-${fleet.fleet}-${name}-errors`, threshold: 1, evaluationPeriods: 1, treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: `The ${name} function failed; runs or alerts may be lost. Read its log group and the dead-letter queue.`,
      }));
      this.alarms.push(fn.function.metricThrottles({ period: Duration.minutes(5) }).createAlarm(this, `${pascal(name)}Throttles`, {
        alarmName: `shipshape-${fleet.fleet}-${name}-throttles`, threshold: 1, evaluationPeriods: 1, treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: `The ${name} function was throttled; raise the account's Lambda concurrency or spread the schedules.`,
      }));
    }
    this.alarms.push(this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5) }).createAlarm(this, 'DeadLetters', {
      alarmName: `shipshape-${fleet.fleet}-dead-letters`, threshold: 1, evaluationPeriods: 1, treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: 'A schedule, rule or function could not deliver an event after its retries; read the messages in the dead-letter queue.',
    }));
    // Alarm changes reach people through the result function, with the severity attribute the filter policies need.
    new events.Rule(this, 'AlarmChanges', {
      description: `shipshape ${fleet.fleet}: state changes of the fleet's alarms`,
      eventPattern: { source: ['aws.cloudwatch'], detailType: ['CloudWatch Alarm State Change'], resources: this.alarms.map((a) => a.alarmArn) },
      targets: [new eventTargets.LambdaFunction(this.resultProcessor.function, { deadLetterQueue: this.deadLetterQueue, retryAttempts: 4, maxEventAge: Duration.hours(2) })],
    });
  }

  private addConsoleRunbooks(fleet: Fleet, common: { fleetJson: string; logKey: kms.IKey; deadLetterQueue: sqs.IQueue; logRetentionDays: number }, baseEnv: Record<string, string>): ShipshapeFunction {
    const consoleFn = new ShipshapeFunction(this, 'Console', {
      ...common,
      entry: 'console',
      description: `shipshape ${fleet.fleet}: requests from the console runbooks (silences)`,
      environment: { ...baseEnv, SHIPSHAPE_STATE_TABLE: this.state.table.tableName },
    });
    this.state.grantStateAccess(consoleFn.role, ['dynamodb:PutItem', 'dynamodb:Query']);
    consoleFn.role.addToPolicy(new iam.PolicyStatement({ sid: 'UseFleetKey', actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'], resources: [this.key.keyArn] }));
    const stacks = fleet.stacks.map((s) => s.name).sort();
    this.runbooks['health-check-now'] = new AutomationRunbook(this, 'HealthCheckNowRunbook', {
      fleet: fleet.fleet,
      description: `shipshape ${fleet.fleet}: run the health check of one stack now, on all of its hosts. Results and alerts follow the same path as the scheduled checks; the run appears under Run Command. Changes nothing on the hosts.`,
      parameters: { Stack: { description: 'The stack to check.', allowedValues: stacks } },
      action: { invoke: this.dispatcher.function, payload: { runbook: HEALTH_CHECK, stack: '{{ Stack }}', trigger: 'console' } },
    });
    this.runbooks.silence = new AutomationRunbook(this, 'SilenceRunbook', {
      fleet: fleet.fleet,
      description: `shipshape ${fleet.fleet}: silence alerts for a while, e.g. during planned work. Choose a stack (or * for all), a host ID (or *), a check such as container.state or host.* (or *), and how many hours (1-168). Nothing is sent while the silence lasts; whatever still fails when it ends is alerted once.`,
      parameters: {
        Stack: { description: 'Stack to silence, or * for every stack.', allowedValues: ['*', ...stacks] },
        Host: { description: 'Instance or managed node ID, or * for every host.', allowedPattern: SILENCE_HOST.source, default: '*' },
        Check: { description: 'Check such as container.state, a family such as host.*, or * for all checks.', allowedPattern: SILENCE_CHECK.source, default: '*' },
        Hours: { description: 'How long, in hours (1 to 168).', allowedPattern: SILENCE_HOURS.source, default: '2' },
        Reason: { description: 'Why (shown in the logs): letters, digits, spaces and . , : _ ( ) -.', allowedPattern: SILENCE_REASON.source },
      },
      action: { invoke: consoleFn.function, payload: { action: 'silence', stack: '{{ Stack }}', host: '{{ Host }}', check: '{{ Check }}', hours: '{{ Hours }}', reason: '{{ Reason }}' } },
    });
    this.runbooks['last-runs'] = new AutomationRunbook(this, 'LastRunsRunbook', {
      fleet: fleet.fleet,
      description: `shipshape ${fleet.fleet}: list the last runs of a stack (health checks, backups, restores, drills, restarts): when, which host, the outcome, how many findings and alerts, and what shipshape did about it. Read-only.`,
      parameters: { Stack: { description: 'The stack.', allowedValues: stacks }, Count: { description: 'How many runs (1 to 50).', allowedPattern: '^([1-9]|[1-4][0-9]|50)$', default: '20' } },
      action: { invoke: consoleFn.function, payload: { action: 'last-runs', stack: '{{ Stack }}', count: '{{ Count }}' } },
    });
    const restartDoc = this.documents[RESTART]!;
    this.runbooks['restart-service'] = new AutomationRunbook(this, 'RestartServiceRunbook', {
      fleet: fleet.fleet,
      description: `shipshape ${fleet.fleet}: restart services of a stack on one host, one after another, waiting for each to be healthy. Use * to restart the whole stack. Refuses while a backup or restore runs on the host. The result lands in the run history and alerts like any run.`,
      approvers: fleet.console.approvers.length && fleet.console.approve.includes('restart-service') ? fleet.console.approvers : [],
      parameters: {
        Stack: { description: 'The stack the host belongs to.', allowedValues: stacks },
        Host: { description: 'Instance or managed node ID.', allowedPattern: INSTANCE_ID.source },
        Services: { description: 'Services to restart, in order, separated by commas (e.g. api,worker), or * for all.', allowedPattern: SERVICES_PATTERN, default: '*' },
      },
      action: {
        runCommand: {
          documentName: restartDoc.documentName, instanceParameter: 'Host', outputBucket: this.output.bucket.bucketName, timeoutSeconds: 1800,
          comment: `shipshape ${fleet.fleet}/{{ Stack }} restart {{ automation:EXECUTION_ID }}`,
          parameters: { Stack: '{{ Stack }}', RunId: '{{ automation:EXECUTION_ID }}', Services: '{{ Services }}' },
        },
        statements: this.runCommandStatements(fleet, restartDoc),
      },
    });
    this.acknowledgeRunCommandRunbook(fleet, this.runbooks['restart-service']);
    const backedUp = fleet.stacks.filter((st) => st.backup).map((st) => st.name).sort();
    if (backedUp.length && this.documents[RESTORE]) {
      this.runbooks['backup-now'] = new AutomationRunbook(this, 'BackupNowRunbook', {
        fleet: fleet.fleet,
        description: `shipshape ${fleet.fleet}: back up one stack now, on all of its hosts, exactly as the schedule does. The backup is verified and alerts follow the usual path. Containers listed under backup.stop are stopped for the copy and always started again.`,
        parameters: { Stack: { description: 'The stack to back up.', allowedValues: backedUp } },
        action: { invoke: this.dispatcher.function, payload: { runbook: BACKUP, stack: '{{ Stack }}', trigger: 'console' } },
      });
      this.runbooks['drill-now'] = new AutomationRunbook(this, 'DrillNowRunbook', {
        fleet: fleet.fleet,
        description: `shipshape ${fleet.fleet}: run the restore drill of one stack now: every host downloads its newest verified backup into scratch space, checks the checksums, extracts it and checks SQLite copies. Live data is never touched.`,
        parameters: { Stack: { description: 'The stack to drill.', allowedValues: backedUp } },
        action: { invoke: this.dispatcher.function, payload: { runbook: DRILL, stack: '{{ Stack }}', trigger: 'console' } },
      });
      const restoreDoc = this.documents[RESTORE];
      const restoreParams = (restoreDoc.document.content as { parameters: Record<string, { allowedPattern?: string; description: string; default?: string }> }).parameters;
      this.runbooks.restore = new AutomationRunbook(this, 'RestoreRunbook', {
        fleet: fleet.fleet,
        description: `shipshape ${fleet.fleet}: restore a backup onto one host. Destructive: it replaces the chosen data. It first checks every archive's checksum and takes a safety backup; if the restore fails, the safety backup is put back. Choose the stack, the host, and which backup (latest verified by default).`,
        approvers: fleet.console.approvers.length && fleet.console.approve.includes('restore') ? fleet.console.approvers : [],
        parameters: {
          Stack: { description: 'The stack the host belongs to.', allowedValues: backedUp },
          Host: { description: 'Instance or managed node ID to restore onto.', allowedPattern: INSTANCE_ID.source },
          Timestamp: { description: restoreParams.Timestamp!.description, allowedPattern: restoreParams.Timestamp!.allowedPattern!, default: 'latest' },
          Sources: { description: restoreParams.Sources!.description, allowedPattern: restoreParams.Sources!.allowedPattern!, default: '*' },
          FromHost: { description: restoreParams.FromHost!.description, allowedPattern: restoreParams.FromHost!.allowedPattern!, default: 'self' },
        },
        action: {
          runCommand: {
            documentName: restoreDoc.documentName, instanceParameter: 'Host', outputBucket: this.output.bucket.bucketName, timeoutSeconds: 6 * 3600,
            comment: `shipshape ${fleet.fleet}/{{ Stack }} restore {{ automation:EXECUTION_ID }}`,
            parameters: { Stack: '{{ Stack }}', RunId: '{{ automation:EXECUTION_ID }}', Timestamp: '{{ Timestamp }}', Sources: '{{ Sources }}', FromHost: '{{ FromHost }}' },
          },
          statements: this.runCommandStatements(fleet, restoreDoc),
        },
      });
      this.acknowledgeRunCommandRunbook(fleet, this.runbooks.restore);
    }
    return consoleFn;
  }

  /**
   * Application secrets: created (or adopted) with the fleet key, rotated by one function
   * that may touch only these secrets, readable by the hosts of their own stack only.
   */
  private addSecrets(fleet: Fleet, common: { fleetJson: string; logKey: kms.IKey; deadLetterQueue: sqs.IQueue; logRetentionDays: number }, baseEnv: Record<string, string>, group: scheduler.IScheduleGroup): void {
    const stacks = fleet.stacks.filter((st) => st.secrets.length);
    if (!stacks.length || !this.documents[APPLY_SECRET]) return;
    this.rotation = new ShipshapeFunction(this, 'Rotation', {
      ...common,
      entry: 'rotation',
      description: `shipshape ${fleet.fleet}: rotates application secrets and applies them to the hosts`,
      timeout: Duration.minutes(15),
      environment: { ...baseEnv, SHIPSHAPE_ALERT_TOPIC_ARN: this.alerts.topic.topicArn, SHIPSHAPE_OUTPUT_BUCKET: this.output.bucket.bucketName },
    });
    const role = this.rotation.role;
    this.documents[APPLY_SECRET].grantSendCommand(role);
    this.documents[HEALTH_CHECK]!.grantSendCommand(role);
    role.addToPolicy(new iam.PolicyStatement({ sid: 'FollowCommands', actions: ['ssm:ListCommands', 'ssm:ListCommandInvocations', 'ssm:GetCommandInvocation'], resources: ['*'] }));
    acknowledgeWildcard(role, 'Resource::*', 'Following the commands it sent (ListCommands, ListCommandInvocations, GetCommandInvocation) and secretsmanager:GetRandomPassword (added by RotationSchedule; it reads no secret) support no resource-level permissions.');
    role.addToPolicy(new iam.PolicyStatement({ sid: 'PublishAlerts', actions: ['sns:Publish'], resources: [this.alerts.topic.topicArn] }));
    role.addToPolicy(new iam.PolicyStatement({ sid: 'UseFleetKey', actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'], resources: [this.key.keyArn] }));
    const rotationArns: string[] = [];
    for (const stack of stacks) {
      const arns: string[] = [];
      for (const cfg of stack.secrets) {
        const id = `Secret${pascal(stack.name)}${pascal(cfg.name)}`;
        const secret = cfg.secretArn
          ? secretsmanager.Secret.fromSecretCompleteArn(this, id, cfg.secretArn)
          : new secretsmanager.Secret(this, id, {
            secretName: secretName(fleet.fleet, stack.name, cfg.name),
            description: `shipshape ${fleet.fleet}/${stack.name}: ${cfg.file ?? `${cfg.variable} in ${cfg.envFile}`}`,
            encryptionKey: this.key,
            // The first value only has to be safe in an env file; rotation replaces it.
            generateSecretString: { passwordLength: 64, excludePunctuation: true, includeSpace: false },
          });
        new secretsmanager.RotationSchedule(this, `${id}Rotation`, { secret, rotationLambda: this.rotation.function, automaticallyAfter: Duration.days(cfg.rotationDays) });
        arns.push(secret.secretArn);
      }
      rotationArns.push(...arns);
      // Scoped to these secrets: the rotation function can touch nothing else.
      role.addToPolicy(new iam.PolicyStatement({
        actions: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue', 'secretsmanager:UpdateSecretVersionStage'],
        resources: arns,
      }));
      // Hosts of this stack read only this stack's secrets.
      this.stackHostPolicies[stack.name] = new iam.ManagedPolicy(this, `HostSecretsPolicy${pascal(stack.name)}`, {
        description: `shipshape ${fleet.fleet}: attach to the instance role of the hosts of stack ${stack.name}, to read its secrets`,
        statements: [
          new iam.PolicyStatement({ sid: 'ReadStackSecrets', actions: ['secretsmanager:GetSecretValue'], resources: arns }),
          new iam.PolicyStatement({ sid: 'DecryptStackSecrets', actions: ['kms:Decrypt'], resources: [this.key.keyArn], conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${this.region}.amazonaws.com` } } }),
        ],
      });
      new CfnOutput(this, `HostSecretsPolicy${pascal(stack.name)}Arn`, { value: this.stackHostPolicies[stack.name]!.managedPolicyArn, description: `Attach to the instance role of the hosts of ${stack.name}` });
    }
    // A missed rotation is a finding: the age of each secret, daily, against its period plus slack.
    acknowledgeWildcard(this, `Resource::${nagArnRef(this.rotation.function)}:*`,
      'EventBridge Scheduler invokes the rotation function (daily secret ages) and its versions; the grant names this one function.');
    new ScheduledJob(this, 'SecretAges', {
      schedule: { cron: '30 6 * * ? *', timezone: 'UTC', enabled: true },
      target: this.rotation.function,
      payload: { action: 'report-age' },
      deadLetterQueue: this.deadLetterQueue,
      group,
      description: `shipshape ${fleet.fleet}: daily age of the application secrets`,
    });
    for (const stack of stacks) {
      for (const cfg of stack.secrets) {
        const ref = `${stack.name}/${cfg.name}`;
        const limit = cfg.rotationDays + SECRET_AGE_SLACK_DAYS;
        this.alarms.push(new cloudwatch.Metric({
          namespace: 'shipshape', metricName: 'SecretAgeDays', dimensionsMap: { service: 'shipshape-rotation', secret: ref }, statistic: cloudwatch.Stats.MAXIMUM, period: Duration.days(1),
        }).createAlarm(this, `SecretAge${pascal(stack.name)}${pascal(cfg.name)}`, {
          alarmName: `shipshape-${fleet.fleet}-${stack.name}-${cfg.name}-secret-age`,
          threshold: limit, comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD, evaluationPeriods: 1,
          // No report means the reporting failed, which the rotation function's error alarm already says.
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
          alarmDescription: `Secret ${ref} is older than its rotation period of ${cfg.rotationDays} days plus ${SECRET_AGE_SLACK_DAYS}: rotations are failing or stuck. Read the rotation alerts and the Rotation function's log, then run rotate-secret-now.`,
        }));
      }
    }
    const refs = stacks.flatMap((st) => st.secrets.map((x) => `${st.name}/${x.name}`)).sort();
    const secretParameter = { Secret: { description: 'The secret, as <stack>/<name>.', allowedValues: refs } };
    role.addToPolicy(new iam.PolicyStatement({ sid: 'RotateNow', actions: ['secretsmanager:RotateSecret'], resources: rotationArns }));
    this.runbooks['rotate-secret-now'] = new AutomationRunbook(this, 'RotateSecretNowRunbook', {
      fleet: fleet.fleet,
      description: `shipshape ${fleet.fleet}: rotate one application secret now. Secrets Manager runs the same four steps as the scheduled rotation: new value, applied on every host of the stack with its services restarted in order, health-checked, then made current. If any host fails, every host gets the current value back and a critical alert says where.`,
      parameters: secretParameter,
      action: { invoke: this.rotation.function, payload: { action: 'rotate-now', secret: '{{ Secret }}' } },
      approvers: fleet.console.approve.includes('rotate-secret-now') ? fleet.console.approvers : [],
    });
    this.runbooks['rollback-secret'] = new AutomationRunbook(this, 'RollbackSecretRunbook', {
      fleet: fleet.fleet,
      description: `shipshape ${fleet.fleet}: put the previous value of one application secret back. Every host of the stack applies AWSPREVIOUS and restarts its services; only when all of them pass their health check does AWSCURRENT move back to that version. If any fails, the hosts keep the current value and a critical alert says where.`,
      parameters: secretParameter,
      action: { invoke: this.rotation.function, payload: { action: 'rollback', secret: '{{ Secret }}' }, timeoutSeconds: 900 },
      approvers: fleet.console.approve.includes('rollback-secret') ? fleet.console.approvers : [],
    });
  }

  /** What a console runbook needs to run one of the fleet's documents on a host it names. */
  private runCommandStatements(fleet: Fleet, doc: RunCommandDocument): iam.PolicyStatement[] {
    return [
      new iam.PolicyStatement({ actions: ['ssm:SendCommand'], resources: [doc.documentArn] }),
      new iam.PolicyStatement({
        actions: ['ssm:SendCommand'],
        resources: [Arn.format({ service: 'ec2', resource: 'instance', resourceName: '*' }, this), Arn.format({ service: 'ssm', resource: 'managed-instance', resourceName: '*' }, this)],
        conditions: { StringEquals: { [`ssm:resourceTag/${FLEET_TAG_KEY}`]: fleet.fleet } },
      }),
      new iam.PolicyStatement({ actions: ['ssm:ListCommands', 'ssm:ListCommandInvocations', 'ssm:GetCommandInvocation', 'ssm:DescribeInstanceInformation'], resources: ['*'] }),
    ];
  }

  private acknowledgeRunCommandRunbook(fleet: Fleet, runbook: AutomationRunbook): void {
    const hosts = `The host is chosen when the runbook starts; the condition ssm:resourceTag/${FLEET_TAG_KEY}=${fleet.fleet} limits it to this fleet.`;
    acknowledgeWildcard(runbook.role, 'Resource::*', 'Reading command status (ListCommands, ListCommandInvocations, GetCommandInvocation, DescribeInstanceInformation) supports no resource-level permissions.');
    acknowledgeWildcard(runbook.role, 'Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*', hosts);
    acknowledgeWildcard(runbook.role, 'Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:managed-instance/*', hosts);
  }

  private addDashboard(fleet: Fleet): void {
    const perStack = (metricName: string) => fleet.stacks.map((s) => new cloudwatch.Metric({
      namespace: 'shipshape', metricName, dimensionsMap: { service: 'shipshape-result', runbook: HEALTH_CHECK, stack: s.name }, statistic: cloudwatch.Stats.SUM, label: s.name, period: Duration.minutes(15),
    }));
    const fns = [this.dispatcher, this.resultProcessor, this.console, ...(this.retention ? [this.retention] : []), ...(this.rotation ? [this.rotation] : [])];
    const secrets = fleet.stacks.flatMap((st) => st.secrets.map((x) => ({ ref: `${st.name}/${x.name}`, limit: x.rotationDays + SECRET_AGE_SLACK_DAYS })));
    const secretAges = secrets.length ? [[new cloudwatch.GraphWidget({
      title: 'Secret age (days) and alarm limits',
      left: secrets.map((x) => new cloudwatch.Metric({ namespace: 'shipshape', metricName: 'SecretAgeDays', dimensionsMap: { service: 'shipshape-rotation', secret: x.ref }, statistic: cloudwatch.Stats.MAXIMUM, period: Duration.days(1), label: x.ref })),
      leftAnnotations: [...new Set(secrets.map((x) => x.limit))].map((value) => ({ value, label: `limit ${value} d` })),
      width: 24,
    })]] : [];
    new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `shipshape-${fleet.fleet}`,
      widgets: [
        [
          new cloudwatch.GraphWidget({ title: 'Hosts failing health checks, by stack', left: perStack('HostsFailing'), width: 12 }),
          new cloudwatch.GraphWidget({ title: 'Hosts evaluated, by stack', left: perStack('HostsEvaluated'), width: 12 }),
        ],
        [
          new cloudwatch.GraphWidget({ title: 'Critical and warning findings', left: perStack('CriticalFindings'), right: perStack('WarningFindings'), width: 12 }),
          new cloudwatch.GraphWidget({ title: 'Alerts sent', left: perStack('AlertsPublished'), width: 12 }),
        ],
        [
          new cloudwatch.GraphWidget({ title: 'Function errors', left: fns.map((f) => f.function.metricErrors({ period: Duration.minutes(5) })), width: 8 }),
          new cloudwatch.GraphWidget({ title: 'Function duration (p90)', left: fns.map((f) => f.function.metricDuration({ period: Duration.minutes(5), statistic: 'p90' })), width: 8 }),
          new cloudwatch.GraphWidget({ title: 'Dead-letter queue depth', left: [this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5) })], width: 8 }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Verified backups and archive bytes, by stack',
            left: fleet.stacks.filter((st) => st.backup).map((st) => new cloudwatch.Metric({ namespace: 'shipshape', metricName: 'BackupsVerified', dimensionsMap: { service: 'shipshape-result', runbook: BACKUP, stack: st.name }, statistic: cloudwatch.Stats.SUM, period: Duration.days(1), label: st.name })),
            width: 12,
          }),
          // Per host without a metric per host: the result function logs one line per host evaluated.
          new cloudwatch.LogQueryWidget({
            title: 'Health by host (latest result)',
            logGroupNames: [this.resultProcessor.logGroup.logGroupName],
            queryLines: ['fields @timestamp, stack, instanceId, critical, warning', 'filter message = "host evaluated" and runbook = "health-check"', 'stats latest(critical) as critical, latest(warning) as warning, max(@timestamp) as last by stack, instanceId', 'sort critical desc, warning desc'],
            width: 12,
          }),
        ],
        ...secretAges,
        [new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 24 })],
      ],
    });
  }
}
