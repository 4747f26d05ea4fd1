import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { channelOf, isChatChannel, type Channel, type Fleet } from '../config/schema.js';
import { ShipshapeFunction, type ShipshapeFunctionProps } from './function.js';
import { acknowledgeWildcard } from './nag.js';

/** What every function of the stack shares (fleet config, log key, dead-letter queue, log retention). */
export type CommonFunctionProps = Omit<ShipshapeFunctionProps, 'entry' | 'description' | 'environment' | 'timeout' | 'memorySize'>;

export interface NotifierProps {
  readonly fleet: Fleet;
  /** The props every function of the stack shares; the receivers are read from the bundled fleet config. */
  readonly common: CommonFunctionProps;
  /** The alert topic: subscribed with a filter policy on `severity`. */
  readonly alertTopic: sns.ITopic;
  /** The state table: delivered (message, receiver) pairs, so a retry sends only what is missing. */
  readonly stateTable: ITable;
  /** The fleet key, which encrypts the state table. */
  readonly key: IKey;
}

interface ChatRecipient { readonly channel: Channel; readonly severities: readonly string[]; readonly escalation: boolean }

/** The chat and pager recipients of a fleet (alerts.recipients and escalation levels). */
export function chatRecipients(fleet: Fleet): ChatRecipient[] {
  return [
    ...fleet.alerts.recipients.filter(isChatChannel).map((r) => ({ channel: r, severities: r.severities, escalation: false })),
    ...(fleet.alerts.escalation ?? []).flatMap((l) => l.recipients.filter(isChatChannel).map((r) => ({ channel: r, severities: ['escalation'], escalation: true }))),
  ];
}

/**
 * The function that delivers alerts to Slack, Teams, PagerDuty and Opsgenie (see
 * lambdas/notifier). Subscribed to the alert topic with a filter policy on `severity`; the
 * webhook URLs and keys stay in Secrets Manager, and only those secrets can be read. SNS
 * invokes it asynchronously: Lambda retries twice, then the dead-letter queue; `alarms`
 * (errors, throttles) belong on the self-monitoring topic.
 */
export class Notifier extends Construct {
  readonly fn: ShipshapeFunction;
  readonly alarms: cloudwatch.Alarm[] = [];

  /** Whether a fleet needs a notifier at all. */
  static needed(fleet: Fleet): boolean {
    return chatRecipients(fleet).length > 0;
  }

  constructor(scope: Construct, id: string, props: NotifierProps) {
    super(scope, id);
    const receivers = chatRecipients(props.fleet);
    if (!receivers.length) throw new Error('Notifier: the fleet has no slack, teams, pagerduty or opsgenie recipient');
    this.fn = new ShipshapeFunction(this, 'Function', {
      ...props.common,
      entry: 'notifier',
      description: `shipshape ${props.fleet.fleet}: delivers alerts to chat and pager receivers`,
      // 5 attempts with backoff and Retry-After up to 60 s, per receiver.
      timeout: Duration.minutes(5),
      environment: { SHIPSHAPE_STATE_TABLE: props.stateTable.tableName },
    });
    const secretArns = [...new Set(receivers.map((r) => r.channel[channelOf(r.channel) as 'slack']!.secretArn))];
    this.fn.role.addToPolicy(new iam.PolicyStatement({
      sid: 'ReadReceiverSecrets',
      actions: ['secretsmanager:GetSecretValue'],
      // A secret's ARN ends in 6 random characters; a partial ARN (without them) is allowed too.
      resources: secretArns.map((a) => (/-[A-Za-z0-9]{6}$/.test(a) ? a : `${a}-??????`)),
    }));
    for (const a of secretArns.filter((x) => !/-[A-Za-z0-9]{6}$/.test(x))) {
      acknowledgeWildcard(this.fn.role, `Resource::${a}-??????`, 'A partial secret ARN needs the 6-character suffix Secrets Manager appends.');
    }
    // Secrets under a customer key: decrypt only through Secrets Manager.
    this.fn.role.addToPolicy(new iam.PolicyStatement({
      sid: 'DecryptReceiverSecrets', actions: ['kms:Decrypt'], resources: ['*'],
      conditions: { StringLike: { 'kms:ViaService': 'secretsmanager.*.amazonaws.com' } },
    }));
    acknowledgeWildcard(this.fn.role, 'Resource::*', 'Receiver secrets may use any customer key; kms:Decrypt is allowed only via Secrets Manager.');
    this.fn.role.addToPolicy(new iam.PolicyStatement({ sid: 'DeliveryLog', actions: ['dynamodb:GetItem', 'dynamodb:PutItem'], resources: [props.stateTable.tableArn] }));
    this.fn.role.addToPolicy(new iam.PolicyStatement({ sid: 'UseFleetKey', actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'], resources: [props.key.keyArn] }));

    const severities = [...new Set(receivers.flatMap((r) => r.severities))].sort();
    props.alertTopic.addSubscription(new subs.LambdaSubscription(this.fn.function, {
      filterPolicy: { severity: sns.SubscriptionFilter.stringFilter({ allowlist: severities }) },
      deadLetterQueue: props.common.deadLetterQueue,
    }));

    const name = `shipshape-${props.fleet.fleet}-notifier`;
    this.alarms.push(this.fn.function.metricErrors({ period: Duration.minutes(5) }).createAlarm(this, 'Errors', {
      alarmName: `${name}-errors`, threshold: 1, evaluationPeriods: 1, treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: 'The notifier could not deliver to a Slack, Teams, PagerDuty or Opsgenie receiver after its retries: read its log (which receiver, which status), check the secret and the webhook, then the dead-letter queue.',
    }));
    this.alarms.push(this.fn.function.metricThrottles({ period: Duration.minutes(5) }).createAlarm(this, 'Throttles', {
      alarmName: `${name}-throttles`, threshold: 1, evaluationPeriods: 1, treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: 'The notifier was throttled; chat and pager alerts are delayed.',
    }));
  }

  /** Also deliver what arrives on this topic (the self-monitoring alarms topic), unfiltered. */
  subscribe(topic: sns.ITopic, deadLetterQueue?: sqs.IQueue): void {
    topic.addSubscription(new subs.LambdaSubscription(this.fn.function, deadLetterQueue ? { deadLetterQueue } : {}));
  }
}
