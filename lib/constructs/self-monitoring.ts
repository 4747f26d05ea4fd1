import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import { Stack } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import type { Recipient } from '../config/schema.js';

export interface SelfMonitoringProps {
  /** The fleet's own alarms (function errors, dead letters, missed runs...). More can be added with watch(). */
  readonly alarms: readonly cloudwatch.Alarm[];
  /** Key that encrypts the alarms topic; CloudWatch is allowed to use it. */
  readonly key: IKey;
  /** The fleet's recipients: every one that takes critical alerts is subscribed. */
  readonly recipients: readonly Recipient[];
  /** Display name in emails and SMS (at most 100 characters). */
  readonly displayName: string;
  /** The notifier function, for chat and pager recipients. @default - none */
  readonly notifier?: IFunction;
  /** Where SNS parks what it cannot deliver to the notifier. @default - none */
  readonly deadLetterQueue?: sqs.IQueue;
}

/**
 * The tool's own alarms go straight to people: each alarm acts (on ALARM and on OK) on an
 * "alarms" topic that every recipient of critical alerts is subscribed to, so nothing of
 * shipshape (result function, EventBridge rule, state table) stands between an alarm and a
 * person.
 *
 * Why a topic of its own rather than the alert topic with a severity: CloudWatch publishes
 * its notification without message attributes, so the alert topic's attribute filter
 * policies never match it; a MessageBody-scoped filter would not do either, because every
 * message on this topic would need a `severity` field in its body and the alert topic's
 * plain-text bodies for email and SMS have none. Everything on this topic is critical by
 * construction, so its subscriptions need no filter at all.
 */
export class SelfMonitoring extends Construct {
  readonly topic: sns.Topic;
  private readonly action: actions.SnsAction;

  constructor(scope: Construct, id: string, props: SelfMonitoringProps) {
    super(scope, id);
    if (props.displayName.length > 100) throw new Error(`SelfMonitoring displayName must be at most 100 characters, got ${props.displayName.length}`);
    this.topic = new sns.Topic(this, 'AlarmsTopic', { masterKey: props.key, enforceSSL: true, displayName: props.displayName });
    const stack = Stack.of(this);
    // Alarm actions publish as CloudWatch; an encrypted topic needs the key to allow it.
    props.key.addToResourcePolicy(new iam.PolicyStatement({
      sid: 'CloudWatchAlarmsPublishToEncryptedTopics',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      resources: ['*'],
      conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
    }));
    this.topic.addToResourcePolicy(new iam.PolicyStatement({
      sid: 'CloudWatchAlarmsOfThisAccount',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['sns:Publish'],
      resources: [this.topic.topicArn],
      conditions: { ArnLike: { 'aws:SourceArn': `arn:${stack.partition}:cloudwatch:${stack.region}:${stack.account}:alarm:*` } },
    }));

    props.recipients.filter((r) => r.severities.includes('critical')).forEach((r, i) => {
      if (r.email) this.topic.addSubscription(new subs.EmailSubscription(r.email));
      else if (r.sms) this.topic.addSubscription(new subs.SmsSubscription(r.sms));
      else if (r.https) this.topic.addSubscription(new subs.UrlSubscription(r.https, { protocol: sns.SubscriptionProtocol.HTTPS }));
      else if (r.sqs) new sns.Subscription(this, `Sqs${i}`, { topic: this.topic, protocol: sns.SubscriptionProtocol.SQS, endpoint: r.sqs });
    });
    if (props.notifier) {
      this.topic.addSubscription(new subs.LambdaSubscription(props.notifier, props.deadLetterQueue ? { deadLetterQueue: props.deadLetterQueue } : {}));
    }

    this.action = new actions.SnsAction(this.topic);
    props.alarms.forEach((a) => this.watch(a));
  }

  /** Sends this alarm's ALARM and its return to OK to the alarms topic. */
  watch(alarm: cloudwatch.Alarm): void {
    alarm.addAlarmAction(this.action);
    alarm.addOkAction(this.action);
  }
}
