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

    // One subscription per endpoint, whatever roles it has (recipient, escalation levels): SNS
    // refuses a second subscription of the same endpoint, so several roles become an "$or"
    // filter policy. Chat and pager recipients (slack, teams, pagerduty, opsgenie) go through
    // the notifier function instead.
    type Clause = Record<string, string[]>;
    const endpoints = new Map<string, { r: Channel; clauses: Clause[] }>();
    const add = (r: Channel, clause: Clause) => {
      const key = r.email ? `email:${r.email.toLowerCase()}` : r.sms ? `sms:${r.sms}` : r.https ? `https:${r.https}` : r.sqs ? `sqs:${r.sqs}` : undefined;
      if (!key) return;
      const e = endpoints.get(key) ?? { r, clauses: [] };
      e.clauses.push(clause);
      endpoints.set(key, e);
    };
    (props.recipients ?? []).forEach((r) => add(r, { severity: [...r.severities] }));
    (props.escalationRecipients ?? []).forEach((r) => add(r, { severity: ['escalation'] }));
    (props.escalation ?? []).forEach((l, n) => l.recipients.forEach((r) => add(r, { severity: ['escalation'], level: [String(n + 1)] })));

    [...endpoints.values()].forEach(({ r, clauses }, i) => {
      const first = clauses[0]!;
      const filterPolicy = Object.fromEntries(Object.entries(first).map(([k, v]) => [k, sns.SubscriptionFilter.stringFilter({ allowlist: v })]));
      let sub: sns.Subscription;
      if (r.email) sub = this.topic.addSubscription(new subs.EmailSubscription(r.email, { filterPolicy }));
      else if (r.sms) sub = this.topic.addSubscription(new subs.SmsSubscription(r.sms, { filterPolicy }));
      else if (r.https) sub = this.topic.addSubscription(new subs.UrlSubscription(r.https, { filterPolicy, protocol: sns.SubscriptionProtocol.HTTPS }));
      else {
        // Owned elsewhere: the queue's own policy must allow this topic to send.
        const queue = sqs.Queue.fromQueueArn(this, `Queue${i}`, r.sqs!);
        sub = new sns.Subscription(this, `Sqs${i}`, { topic: this.topic, protocol: sns.SubscriptionProtocol.SQS, endpoint: queue.queueArn, filterPolicy, rawMessageDelivery: false });
      }
      if (clauses.length > 1) (sub.node.defaultChild as sns.CfnSubscription).filterPolicy = { $or: clauses };
    });
  }
}
