import { Duration, Stack, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { Fleet } from '../config/schema.js';
import { NON_TERMINAL_STATUSES } from '../results/invocation-status.js';
import { BACKUP_PREFIX, RESTART } from '../runbooks/names.js';
import { ShipshapeFunction } from './function.js';
import { acknowledgeWildcard, nagArnRef } from './nag.js';
import type { RunbookDocuments } from './runbook-documents.js';
import type { StateTable } from './state-table.js';

export interface ResultProcessingProps {
  readonly fleet: Fleet;
  /** FleetData.configFile. */
  readonly configFile: string;
  readonly documents: RunbookDocuments;
  readonly key: IKey;
  readonly deadLetterQueue: IQueue;
  readonly outputBucket: IBucket;
  readonly backupBucket: IBucket;
  readonly topic: ITopic;
  readonly state: StateTable;
}

export const OUTPUT_PREFIX_REASON = 'SSM names output objects by command and instance at run time; the grant is limited to the command-output/ prefix.';

/**
 * Evaluates every finished invocation of the fleet's documents: one rule on SSM's status-change
 * events for the (fixed) set of documents, one function that reads, evaluates, alerts and records.
 */
export class ResultProcessing extends Construct {
  readonly processor: ShipshapeFunction;
  readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: ResultProcessingProps) {
    super(scope, id);
    const { fleet } = props;
    this.processor = new ShipshapeFunction(this, 'Function', {
      entry: 'result',
      configFile: props.configFile,
      description: `shipshape ${fleet.fleet}: evaluates host results and sends alerts`,
      timeout: Duration.minutes(1),
      logKey: props.key,
      deadLetterQueue: props.deadLetterQueue,
      logRetentionDays: fleet.defaults.logRetentionDays,
      environment: {
        SHIPSHAPE_FLEET_NAME: fleet.fleet,
        SHIPSHAPE_DOCUMENTS: Stack.of(this).toJsonString(props.documents.names),
        SHIPSHAPE_ALERT_TOPIC_ARN: props.topic.topicArn,
        SHIPSHAPE_STATE_TABLE: props.state.table.tableName,
        SHIPSHAPE_OUTPUT_BUCKET: props.outputBucket.bucketName,
      },
    });
    const role = this.processor.role;
    // GetItem/UpdateItem: idempotency records and conditional history appends.
    props.state.grantStateAccess(role, ['dynamodb:Query', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:BatchWriteItem', 'dynamodb:DeleteItem']);
    // Automatic restarts, only where a service asks for them.
    if (fleet.stacks.some((st) => st.services.some((svc) => svc.remediation?.restart))) props.documents.grantSendCommand(role, [RESTART]);
    role.addToPolicy(new iam.PolicyStatement({ sid: 'ReadCommandResults', actions: ['ssm:GetCommandInvocation', 'ssm:ListCommands'], resources: ['*'] }));
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'ssm:GetCommandInvocation and ssm:ListCommands support no resource-level permissions; both only read.',
    });
    props.outputBucket.grantRead(role, 'command-output/*');
    props.topic.grantPublish(role);
    props.key.grantEncryptDecrypt(role);
    role.addToPolicy(new iam.PolicyStatement({ sid: 'VerifyBackups', actions: ['s3:GetObject', 's3:PutObject'], resources: [props.backupBucket.arnForObjects(`${BACKUP_PREFIX}/*`)] }));
    acknowledgeWildcard(role, `Resource::${nagArnRef(props.backupBucket)}/${BACKUP_PREFIX}/*`,
      'Backup keys carry stack, host and time; the function reads them to verify and writes only verified.json markers under backups/.');
    acknowledgeWildcard(role, `Resource::${nagArnRef(props.outputBucket)}/command-output/*`, OUTPUT_PREFIX_REASON);
    for (const a of ['s3:GetObject*', 's3:GetBucket*', 's3:List*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*']) {
      acknowledgeWildcard(role, `Action::${a}`, 'CDK grantRead/grantEncryptDecrypt: reading command output under command-output/ and using the fleet key.');
    }

    this.rule = new events.Rule(this, 'InvocationResults', {
      description: `shipshape ${fleet.fleet}: finished Run Command commands and invocations of this fleet's documents`,
      eventPattern: {
        source: ['aws.ssm'],
        // Per host (evaluate) and per command (send what its hosts found, grouped).
        detailType: ['EC2 Command Invocation Status-change Notification', 'EC2 Command Status-change Notification'],
        detail: { 'document-name': Object.values(props.documents.names), status: [{ 'anything-but': [...NON_TERMINAL_STATUSES] }] },
      },
      targets: [new eventTargets.LambdaFunction(this.processor.function, { deadLetterQueue: props.deadLetterQueue, retryAttempts: 4, maxEventAge: Duration.hours(2) })],
    });
  }
}
