/**
 * The fleet's one SNS message format: a plain-text body for people (email, default), the
 * subject as SMS, and a JSON body for machine subscribers (HTTPS, SQS, Lambda); attributes
 * such as `severity` drive the subscriptions' filter policies.
 */
import type { PublishCommandInput } from '@aws-sdk/client-sns';

/** SNS subjects must be ASCII without control characters, and under 100 characters. */
export const SUBJECT_LIMIT = 99;

export function clip(text: string, max: number): string {
  const ascii = text.replace(/[^\x20-\x7e]/g, '?');
  return ascii.length > max ? `${ascii.slice(0, max - 3)}...` : ascii;
}

export interface SnsMessage {
  readonly topicArn: string;
  /** Already within SUBJECT_LIMIT and ASCII. */
  readonly subject: string;
  readonly text: string;
  readonly json: unknown;
  /** @default - the subject */
  readonly sms?: string;
  readonly attributes: Readonly<Record<string, string>>;
}

export function snsMessage(m: SnsMessage): PublishCommandInput {
  const body = JSON.stringify(m.json);
  return {
    TopicArn: m.topicArn,
    Subject: m.subject,
    MessageStructure: 'json',
    Message: JSON.stringify({ default: m.text, email: m.text, sms: m.sms ?? m.subject, https: body, sqs: body, lambda: body }),
    MessageAttributes: Object.fromEntries(Object.entries(m.attributes).map(([k, v]) => [k, { DataType: 'String', StringValue: v }])),
  };
}
