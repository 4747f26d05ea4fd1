/**
 * Delivered (SNS message, receiver) pairs in the state table, so a retried invocation sends
 * only to the receivers that did not get the message yet:
 *   NOTIFY#<sns message id>   <receiver id>   kept two days
 */
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { DeliveryLog } from './route.js';

export class DynamoDeliveryLog implements DeliveryLog {
  constructor(private readonly doc: Pick<DynamoDBDocumentClient, 'send'>, private readonly table: string, private readonly now: () => number = Date.now) {}

  async delivered(messageId: string, receiverId: string): Promise<boolean> {
    const r = await this.doc.send(new GetCommand({ TableName: this.table, Key: { pk: `NOTIFY#${messageId}`, sk: receiverId }, ConsistentRead: true }));
    return r.Item !== undefined;
  }

  async markDelivered(messageId: string, receiverId: string): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.table, Item: { pk: `NOTIFY#${messageId}`, sk: receiverId, at: this.now(), expiresAt: Math.ceil(this.now() / 1000) + 2 * 86_400 } }));
  }
}
