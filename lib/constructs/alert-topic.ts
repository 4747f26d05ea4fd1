import type { IKey } from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import type { Channel, EscalationLevel, Recipient } from '../config/schema.js';

export interface AlertTopicProps {
  /** Key that encrypts messages at rest. */
  readonly masterKey: IKey;
  /** Who gets which severities. @default - no subscriptions */
  readonly recipients?: readonly Recipient[];
  /** Who gets escalated critical alerts (severity "escalation"). @default - nobody */
  readonly escalationRecipients?: readonly Channel[];
  /** Escalation levels: each level's recipients get messages with severity "escalation" and their level. @default - none */
  readonly escalation?: readonly EscalationLevel[];
  /** Display name in emails and SMS. */
  readonly displayName: string;
}

/**
 * The alert topic: KMS-encrypted, TLS enforced, and one subscription per recipient
 * with a filter policy on the `severity` message attribute.
 */
export class AlertTopic extends Construct {
  readonly topic: sns.Topic;

  constructor(scope: Construct, id: string, props: AlertTopicProps) {
    super(scope, id);
    if (props.displayName.length > 100) throw new Error(`AlertTopic displayName must be at most 100 characters, got ${props.displayName.length}`);
    this.topic = new sns.Topic(this, 'Topic', { masterKey: props.masterKey, enforceSSL: true, displayName: props.displayName });

    // Chat and pager recipients (slack, teams, pagerduty, opsgenie) go through the notifier function instead.
    const subscribe = (r: Channel, i: number, severities: readonly string[], level?: number) => {
      const filterPolicy = {
        severity: sns.SubscriptionFilter.stringFilter({ allowlist: [...severities] }),
        ...(level ? { level: sns.SubscriptionFilter.stringFilter({ allowlist: [String(level)] }) } : {}),
      };
      if (r.email) this.topic.addSubscription(new subs.EmailSubscription(r.email, { filterPolicy }));
      else if (r.sms) this.topic.addSubscription(new subs.SmsSubscription(r.sms, { filterPolicy }));
      else if (r.https) this.topic.addSubscription(new subs.UrlSubscription(r.https, { filterPolicy, protocol: sns.SubscriptionProtocol.HTTPS }));
      else if (r.sqs) {
        // Owned elsewhere: the queue's own policy must allow this topic to send.
        const queue = sqs.Queue.fromQueueArn(this, `Queue${i}`, r.sqs);
        new sns.Subscription(this, `Sqs${i}`, { topic: this.topic, protocol: sns.SubscriptionProtocol.SQS, endpoint: queue.queueArn, filterPolicy, rawMessageDelivery: false });
      }
    };
    (props.recipients ?? []).forEach((r, i) => subscribe(r, i, r.severities));
    (props.escalationRecipients ?? []).forEach((r, i) => subscribe(r, 1000 + i, ['escalation']));
    (props.escalation ?? []).forEach((l, n) => l.recipients.forEach((r, i) => subscribe(r, 1000 * (n + 2) + i, ['escalation'], n + 1)));
  }
}
