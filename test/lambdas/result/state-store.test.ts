import { BatchWriteCommand, DeleteCommand, DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { OK_STATE } from '../../../lambdas/result/alert-state.js';
import { DynamoStateStore } from '../../../lambdas/result/state-store.js';

const doc = mockClient(DynamoDBDocumentClient);
const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
const store = new DynamoStateStore(client, 'T', 30);
const finding = { check: 'container.state', target: 'api', severity: 'critical' as const, observed: 'exited', threshold: 'running', message: 'm' };

beforeEach(() => doc.reset());

describe('DynamoStateStore', () => {
  it('reads every page of a host\'s alerts', async () => {
    doc.on(QueryCommand)
      .resolvesOnce({ Items: [{ pk: 'ALERT#web#i-1', sk: 'a', state: OK_STATE, commandId: 'c', finding }], LastEvaluatedKey: { pk: 'x', sk: 'a' } })
      .resolvesOnce({ Items: [{ pk: 'ALERT#web#i-1', sk: 'b', state: OK_STATE, commandId: 'c', finding }] });
    const alerts = await store.loadAlerts('web', 'i-1');
    expect([...alerts.keys()]).toEqual(['a', 'b']);
    expect(doc.commandCalls(QueryCommand)[1]!.args[0].input.ExclusiveStartKey).toEqual({ pk: 'x', sk: 'a' });
  });

  it('reads the newest runs on as many pages as it takes (a page ends at 1 MB), and no page past the limit', async () => {
    // Prepare: the first page ends early with one run; the second has two more
    const run = (host: string) => ({ pk: 'RUN#web', sk: `2026-11-21T09:00:00.000Z#health-check#${host}`, expiresAt: 1, stack: 'web', host });
    const asked: { Limit?: number; ExclusiveStartKey?: unknown; ScanIndexForward?: boolean }[] = [];
    doc.on(QueryCommand).callsFake((input) => {
      asked.push({ ...input });
      if (asked.length === 1) return { Items: [run('i-3')], LastEvaluatedKey: { pk: 'RUN#web', sk: 'x' } };
      if (asked.length === 2) return { Items: [run('i-2'), run('i-1')], LastEvaluatedKey: { pk: 'RUN#web', sk: 'y' } };
      throw new Error('a page past the limit was read');
    });
    // Act
    const runs = await store.recentRuns('web', 2);
    // Assess
    expect(runs).toEqual([{ stack: 'web', host: 'i-3' }, { stack: 'web', host: 'i-2' }]);
    expect(asked).toEqual([
      expect.objectContaining({ Limit: 2, ScanIndexForward: false, ExclusiveStartKey: undefined }),
      expect.objectContaining({ Limit: 2, ScanIndexForward: false, ExclusiveStartKey: { pk: 'RUN#web', sk: 'x' } }),
    ]);
  });

  it('writes in batches of 25 and retries unprocessed items', async () => {
    doc.on(BatchWriteCommand)
      .resolvesOnce({ UnprocessedItems: { T: [{ DeleteRequest: { Key: { pk: 'ALERT#web#i-1', sk: 'gone' } } }] } })
      .resolves({});
    const open = Array.from({ length: 30 }, (_, i) => ({ key: `k${i}`, state: OK_STATE, commandId: 'c', finding }));
    await store.saveAlerts('web', 'i-1', open, ['gone']);
    const calls = doc.commandCalls(BatchWriteCommand).map((c) => c.args[0].input.RequestItems!.T!.length);
    expect(calls).toEqual([25, 1, 6]);
  });

  it('keeps run history and silences with a TTL', async () => {
    doc.on(PutCommand).resolves({});
    await store.recordRun({ stack: 'web', host: 'i-1', runbook: 'health-check', runId: 'r', commandId: 'c', status: 'Success', at: Date.parse('2026-11-21T09:00:00Z'), critical: 0, warning: 0, notices: 0 });
    await store.putSilence({ id: 's', until: Date.parse('2026-11-21T12:00:00Z'), reason: 'upgrade' });
    const [run, silence] = doc.commandCalls(PutCommand).map((c) => c.args[0].input.Item!).filter((i) => !String(i.pk).startsWith('SEEN#'));
    expect(run).toMatchObject({ pk: 'RUN#web', sk: '2026-11-21T09:00:00.000Z#health-check#i-1', expiresAt: Date.parse('2026-11-21T09:00:00Z') / 1000 + 30 * 86400 });
    expect(silence).toMatchObject({ pk: 'SILENCE', sk: 's', expiresAt: Date.parse('2026-11-21T12:00:00Z') / 1000 + 86400 });
  });

  it('hands each parked notice out once: a lost conditional delete means another caller has it', async () => {
    const entry = (id: string) => ({ id, host: {} as never, notice: {} as never });
    doc.on(QueryCommand).resolves({ Items: [{ pk: 'OUTBOX#c', sk: '#flushed' }, { pk: 'OUTBOX#c', sk: 'a', entry: entry('a') }, { pk: 'OUTBOX#c', sk: 'b', entry: entry('b') }] });
    doc.on(DeleteCommand, { Key: { pk: 'OUTBOX#c', sk: 'a' } }).resolves({});
    doc.on(DeleteCommand, { Key: { pk: 'OUTBOX#c', sk: 'b' } }).rejects(Object.assign(new Error('gone'), { name: 'ConditionalCheckFailedException' }));
    expect((await store.claimOutbox('c')).map((e) => e.id)).toEqual(['a']);
    expect(doc.commandCalls(QueryCommand)[0]!.args[0].input.ConsistentRead).toBe(true);
  });

  it('returns only silences that have not ended', async () => {
    doc.on(QueryCommand).resolves({ Items: [{ silence: { id: 'a', until: 100, reason: 'x' } }, { silence: { id: 'b', until: 300, reason: 'y' } }] });
    expect((await store.activeSilences(200)).map((s) => s.id)).toEqual(['b']);
  });

  it('reads silences and outbox entries past the first page', async () => {
    // Prepare
    doc.on(QueryCommand, { ExpressionAttributeValues: { ':pk': 'SILENCE' } })
      .resolvesOnce({ Items: [{ silence: { id: 'a', until: 300, reason: 'x' } }], LastEvaluatedKey: { pk: 'SILENCE', sk: 'a' } })
      .resolvesOnce({ Items: [{ silence: { id: 'b', until: 300, reason: 'y' } }] });
    doc.on(QueryCommand, { ExpressionAttributeValues: { ':pk': 'OUTBOX#c-1' } })
      .resolvesOnce({ Items: [{ pk: 'OUTBOX#c-1', sk: '1', entry: { id: '1' } }], LastEvaluatedKey: { pk: 'OUTBOX#c-1', sk: '1' } })
      .resolvesOnce({ Items: [{ pk: 'OUTBOX#c-1', sk: '2', entry: { id: '2' } }] });
    doc.on(DeleteCommand).resolves({});
    // Act
    const silences = await store.activeSilences(200);
    const claimed = await store.claimOutbox('c-1');
    // Assess
    expect(silences.map((s) => s.id)).toEqual(['a', 'b']);
    expect(claimed.map((e) => e.id)).toEqual(['1', '2']);
  });
});
