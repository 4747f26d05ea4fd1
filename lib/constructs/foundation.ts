import { Duration, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { Fleet } from '../config/schema.js';
import { AlertTopic } from './alert-topic.js';
import { SecureBucket } from './secure-bucket.js';
import { StateTable } from './state-table.js';

export interface FoundationProps {
  /** The validated fleet config: name, recipients, retention. */
  readonly fleet: Fleet;
}

/**
 * What every other concern builds on: one customer key that rotates, the dead-letter queue,
 * the output bucket (command output and stack specs), the alert topic and the state table.
 */
export class Foundation extends Construct {
  readonly key: kms.Key;
  readonly deadLetterQueue: sqs.Queue;
  readonly output: SecureBucket;
  readonly alerts: AlertTopic;
  readonly state: StateTable;

  constructor(scope: Construct, id: string, props: FoundationProps) {
    super(scope, id);
    const { fleet } = props;
    const stack = Stack.of(this);
    this.key = new kms.Key(this, 'Key', {
      enableKeyRotation: true,
      description: `shipshape ${fleet.fleet}: encrypts alerts, command output, specs and logs`,
      alias: `alias/shipshape/${fleet.fleet}`,
    });
    this.key.addToResourcePolicy(new iam.PolicyStatement({
      sid: 'CloudWatchLogsUseForThisAccountsLogGroups',
      principals: [new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`)],
      actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
      resources: ['*'],
      conditions: { ArnLike: { 'kms:EncryptionContext:aws:logs:arn': `arn:${stack.partition}:logs:${stack.region}:${stack.account}:log-group:*` } },
    }));

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is the dead-letter queue of the schedules, the rules and the functions.',
    });

    this.output = new SecureBucket(this, 'Output', {
      encryptionKey: this.key,
      expiringPrefixes: ['command-output/'],
      expireAfter: Duration.days(fleet.defaults.outputRetentionDays),
    });
    this.alerts = new AlertTopic(this, 'Alerts', {
      masterKey: this.key,
      recipients: fleet.alerts.recipients,
      escalation: fleet.alerts.escalation ?? [],
      displayName: `shipshape ${fleet.fleet}`,
    });
    this.state = new StateTable(this, 'State', { encryptionKey: this.key });
  }
}
