import { CfnOutput, Duration, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { healthSchedule } from '../config/resolve.js';
import type { Fleet } from '../config/schema.js';
import { AlertTopic } from '../constructs/alert-topic.js';
import { ShipshapeFunction } from '../constructs/function.js';
import { RunCommandDocument } from '../constructs/run-command-document.js';
import { acknowledgeWildcard, nagArnRef } from '../constructs/nag.js';
import { ScheduledJob } from '../constructs/scheduled-job.js';
import { SecureBucket } from '../constructs/secure-bucket.js';
import { HEALTH_CHECK, healthCheckDocumentContent } from '../runbooks/health-check.js';
import { NON_TERMINAL_STATUSES } from '../results/invocation-status.js';

export interface FleetStackProps extends StackProps {
  /** The validated fleet config (lib/config/load.ts). */
  readonly fleet: Fleet;
}

/** PascalCase construct-ID fragment from a config name ("web-api" -> "WebApi"). */
export function pascal(name: string): string {
  return name.split('-').map((p) => p.charAt(0).toUpperCase() + p.slice(1)).join('');
}

/** Everything one fleet needs: key, bucket, topic, documents, functions, schedules, rules. */
export class FleetStack extends Stack {
  readonly key: kms.Key;
  readonly output: SecureBucket;
  readonly alerts: AlertTopic;
  readonly deadLetterQueue: sqs.Queue;
  readonly documents: Record<string, RunCommandDocument> = {};
  readonly dispatcher: ShipshapeFunction;
  readonly resultProcessor: ShipshapeFunction;
  readonly hostPolicy: iam.ManagedPolicy;

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
    this.alerts = new AlertTopic(this, 'Alerts', { masterKey: this.key, recipients: fleet.alerts.recipients, displayName: `shipshape ${fleet.fleet}` });

    this.documents[HEALTH_CHECK] = new RunCommandDocument(this, 'HealthCheckDocument', { content: healthCheckDocumentContent(fleet), fleet: fleet.fleet });
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
      environment: { ...baseEnv, SHIPSHAPE_ALERT_TOPIC_ARN: this.alerts.topic.topicArn },
    });
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
      sid: 'UseFleetKey', actions: ['kms:Decrypt', 'kms:GenerateDataKey'], resources: [this.key.keyArn],
    }));
    const outputPrefixReason = 'SSM names output objects by command and instance at run time; the grant is limited to the command-output/ prefix.';
    acknowledgeWildcard(this.resultProcessor.role, `Resource::${nagArnRef(this.output.bucket)}/command-output/*`, outputPrefixReason);

    new events.Rule(this, 'InvocationResults', {
      description: `shipshape ${fleet.fleet}: finished Run Command invocations of this fleet's documents`,
      eventPattern: {
        source: ['aws.ssm'],
        detailType: ['EC2 Command Invocation Status-change Notification'],
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

    this.hostPolicy = new iam.ManagedPolicy(this, 'HostPolicy', {
      description: `shipshape ${fleet.fleet}: attach to the instance role of every host, next to AmazonSSMManagedInstanceCore`,
      statements: [
        new iam.PolicyStatement({ sid: 'WriteCommandOutput', actions: ['s3:PutObject'], resources: [this.output.bucket.arnForObjects('command-output/*')] }),
        new iam.PolicyStatement({ sid: 'EncryptCommandOutput', actions: ['kms:GenerateDataKey', 'kms:Encrypt'], resources: [this.key.keyArn] }),
      ],
    });
    acknowledgeWildcard(this.hostPolicy, `Resource::${nagArnRef(this.output.bucket)}/command-output/*`, outputPrefixReason);

    new CfnOutput(this, 'AlertTopicArn', { value: this.alerts.topic.topicArn, description: 'Subscribe more endpoints here (message attribute "severity")' });
    new CfnOutput(this, 'OutputBucketName', { value: this.output.bucket.bucketName, description: 'Full command output, under command-output/' });
    new CfnOutput(this, 'HostPolicyArn', { value: this.hostPolicy.managedPolicyArn, description: 'Attach to the instance role of every host' });
    new CfnOutput(this, 'DispatcherFunctionName', { value: this.dispatcher.function.functionName, description: 'Invoke with {"runbook":"health-check","stack":"<name>"}' });
    for (const [runbook, doc] of Object.entries(this.documents)) {
      new CfnOutput(this, `${pascal(runbook)}DocumentName`, { value: doc.documentName, description: `Run Command document for ${runbook}` });
    }
  }
}
