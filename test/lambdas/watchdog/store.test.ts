import { BatchWriteCommand, DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { DynamoStateStore, SEEN_DAYS, VERIFIED_BACKUP, type RunRecord } from '../../../lambdas/result/state-store.js';
import { MemoryStateStore } from '../../support/memory-store.js';

const doc = mockClient(DynamoDBDocumentClient);
const store = new DynamoStateStore(DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })), 'T', 30);
const AT = Date.parse('2026-11-21T09:00:00Z');
const run = (over: Partial<RunRecord> = {}): RunRecord => ({
  stack: 'web', host: 'i-1', runbook: 'backup', runId: 'r1', commandId: 'c1', status: 'Success', at: AT, critical: 0, warning: 0, notices: 0, ...over,
});

beforeEach(() => doc.reset());

describe('DynamoStateStore: what the watchdog reads', () => {
  it('records last-seen per runbook and host, and the last verified backup, moving forward only', async () => {
    // Prepare
    doc.on(PutCommand).resolves({});
    // Act
    await store.recordRun(run({ verified: true }));
    // Assess: conditional PutItem, the permission the result function already has
    const puts = doc.commandCalls(PutCommand).map((c) => c.args[0].input).filter((p) => String(p.Item!.pk).startsWith('SEEN#'));
    expect(puts.map((p) => p.Item!.sk)).toEqual(['backup#i-1', `${VERIFIED_BACKUP}#i-1`]);
    expect(puts[0]!.Item).toEqual({ pk: 'SEEN#web', sk: 'backup#i-1', at: AT, runId: 'r1', commandId: 'c1', status: 'Success', expiresAt: AT / 1000 + SEEN_DAYS * 86_400 });
    expect(puts[0]!.ConditionExpression).toBe('attribute_not_exists(#at) OR #at <= :at');
    expect(puts[0]!.ExpressionAttributeValues).toEqual({ ':at': AT });
  });

  it('fails when DynamoDB refuses a write for another reason than an older result', async () => {
    // Prepare
    doc.on(PutCommand).resolves({});
    doc.on(PutCommand, { Item: { pk: 'SEEN#web' } }).rejectsOnce(Object.assign(new Error('older'), { name: 'ConditionalCheckFailedException' })).rejects(Object.assign(new Error('slow down'), { name: 'ProvisionedThroughputExceededException' }));
    // Act
    const late = store.recordRun(run());
    // Assess
    await expect(late).resolves.toBeUndefined();
    await expect(store.recordRun(run())).rejects.toThrow('slow down');
  });

  it('reads a stack\'s last-seen in one paged query and splits runbook from host', async () => {
    // Prepare
    doc.on(QueryCommand)
      .resolvesOnce({ Items: [{ pk: 'SEEN#web', sk: 'health-check#i-1', at: 1, runId: 'r', commandId: 'c', status: 'Success' }], LastEvaluatedKey: { pk: 'SEEN#web', sk: 'x' } })
      .resolvesOnce({ Items: [{ pk: 'SEEN#web', sk: 'backup-verified#i-2', at: 2, runId: 'r', commandId: 'c', status: 'Success' }] });
    // Act
    const seen = await store.lastSeen('web');
    // Assess
    expect(seen.map((s) => [s.runbook, s.host, s.at])).toEqual([['health-check', 'i-1', 1], ['backup-verified', 'i-2', 2]]);
    expect(doc.commandCalls(QueryCommand).map((c) => c.args[0].input.ExpressionAttributeValues)).toEqual([{ ':pk': 'SEEN#web' }, { ':pk': 'SEEN#web' }]);
  });

  it('keeps the last dispatch per runbook with a TTL, and the watch marks without one', async () => {
    // Prepare
    doc.on(PutCommand).resolves({});
    doc.on(BatchWriteCommand).resolves({});
    doc.on(QueryCommand, { ExpressionAttributeValues: { ':pk': 'DISPATCH#web' } }).resolves({ Items: [{ pk: 'DISPATCH#web', sk: 'backup', at: AT, runId: 'r', commandIds: ['c'], targets: 'tag Role=web' }] });
    doc.on(QueryCommand, { ExpressionAttributeValues: { ':pk': 'WATCH' } }).resolves({ Items: [{ pk: 'WATCH', sk: 'web#backup', since: 5 }] });
    // Act
    await store.recordDispatch('web', 'backup', { at: AT, runId: 'r', commandIds: ['c'], targets: 'tag Role=web' });
    await store.setWatchMarks({ 'web#backup': 5 }, ['web#drill']);
    // Assess
    expect(doc.commandCalls(PutCommand)[0]!.args[0].input.Item).toEqual({ pk: 'DISPATCH#web', sk: 'backup', at: AT, runId: 'r', commandIds: ['c'], targets: 'tag Role=web', expiresAt: AT / 1000 + SEEN_DAYS * 86_400 });
    expect(doc.commandCalls(BatchWriteCommand)[0]!.args[0].input.RequestItems!.T).toEqual([
      { PutRequest: { Item: { pk: 'WATCH', sk: 'web#backup', since: 5 } } }, { DeleteRequest: { Key: { pk: 'WATCH', sk: 'web#drill' } } },
    ]);
    expect(await store.lastDispatches('web')).toEqual({ backup: { at: AT, runId: 'r', commandIds: ['c'], targets: 'tag Role=web' } });
    expect(await store.watchMarks()).toEqual({ 'web#backup': 5 });
  });
});

describe('MemoryStateStore: the same contract', () => {
  it('keeps the newest last-seen and the verified backup apart', async () => {
    // Prepare
    const mem = new MemoryStateStore();
    // Act
    await mem.recordRun(run({ at: AT, verified: true }));
    await mem.recordRun(run({ at: AT + 10, runId: 'r2' }));
    await mem.recordRun(run({ at: AT - 10, runId: 'old' }));
    // Assess
    const seen = await mem.lastSeen('web');
    expect(seen.map((s) => [s.runbook, s.runId])).toEqual([['backup', 'r2'], [VERIFIED_BACKUP, 'r1']]);
  });
});
