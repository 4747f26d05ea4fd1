/**
 * Duplicate delivery of every event kind the result function gets: the second delivery is
 * answered from the Powertools idempotency record in the state table (dynalite here), and
 * nothing is recorded, verified, counted or sent twice.
 */
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { GetCommandInvocationCommand, SSMClient } from '@aws-sdk/client-ssm';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { verifyBackup } from '../../../lambdas/result/evaluate-backup.js';
import { resultPipeline, type MetricSink } from '../../../lambdas/result/pipeline.js';
import { DynamoStateStore } from '../../../lambdas/result/state-store.js';
import type { BackupResult } from '../../../lib/results/backup.js';
import { startS3 } from '../../support/aws-local.js';
import { startDynalite, type LocalDynamo } from '../../support/dynalite.js';
import { demoFleet } from '../../support/fleets.js';
import { healthyWebResult } from '../../support/results.js';

const ssm = mockClient(SSMClient);
const sns = mockClient(SNSClient);
const fleet = demoFleet((f) => {
  f.stacks[0]!.backup = { sqlite: [{ name: 'db', container: 'web-db-1', path: '/data/app.db' }] };
});
const COMMAND = '0b9c1a2e-1111-2222-3333-444455556666';
let local: LocalDynamo;
let table = 0;
let s3: Awaited<ReturnType<typeof startS3>>;

beforeAll(async () => {
  local = await startDynalite();
  s3 = await startS3(['backups']);
});
afterAll(async () => {
  await local.close();
  await s3.stop();
});

interface Setup { pipeline: ReturnType<typeof resultPipeline>; store: DynamoStateStore; metrics: string[]; name: string }
async function setup(): Promise<Setup> {
  const name = `state-${++table}`;
  await local.createStateTable(name);
  const store = new DynamoStateStore(local.doc, name, 30);
  const persistence = new DynamoDBPersistenceLayer({ tableName: name, keyAttr: 'pk', sortKeyAttr: 'sk', staticPkValue: 'IDEMPOTENCY#result', expiryAttr: 'expiresAt', awsSdkV3Client: local.client });
  const metrics: string[] = [];
  const emit: MetricSink = (metric, _unit, value, dims) => void metrics.push(`${metric}=${value} ${JSON.stringify(dims)}`);
  const ctx = { fleet, documents: { 'health-check': 'HealthDoc', backup: 'BackupDoc' }, region: 'eu-central-1', topicArn: 'arn:aws:sns:eu-central-1:111122223333:alerts', store, backoff: { sleep: async () => {} }, now: () => Date.parse('2026-11-22T10:00:00Z') };
  return { pipeline: resultPipeline({ clients: { ssm: new SSMClient({}), s3: new S3Client({}), sns: new SNSClient({}) }, ctx, persistence, emit }), store, metrics, name };
}

const invocationEvent = () => ({
  source: 'aws.ssm', 'detail-type': 'EC2 Command Invocation Status-change Notification', region: 'eu-central-1',
  detail: { 'command-id': COMMAND, 'document-name': 'HealthDoc', 'instance-id': 'i-0123456789abcdef0', 'requested-date-time': '2026-11-22T09:59:00Z', status: 'Success' },
});
const commandEvent = () => ({ source: 'aws.ssm', 'detail-type': 'EC2 Command Status-change Notification', detail: { 'command-id': COMMAND, 'document-name': 'HealthDoc', status: 'Success' } });
const alarmEvent = () => ({
  source: 'aws.cloudwatch', 'detail-type': 'CloudWatch Alarm State Change', region: 'eu-central-1',
  detail: { alarmName: 'shipshape-demo-dead-letters', state: { value: 'ALARM', reason: 'Threshold Crossed', timestamp: '2026-11-22T10:00:00.000+0000' }, previousState: { value: 'OK' } },
});
const published = () => sns.commandCalls(PublishCommand).length;

beforeEach(() => {
  ssm.reset();
  sns.reset();
  sns.on(PublishCommand).resolves({ MessageId: 'm' });
  const result = healthyWebResult();
  result.containers[0]!.state = 'exited';
  ssm.on(GetCommandInvocationCommand).resolves({ Status: 'Success', StatusDetails: 'Success', ResponseCode: 0, StandardOutputContent: JSON.stringify(result), Comment: 'shipshape web health-check run-7' });
});

describe('exactly once on duplicate delivery', () => {
  it('a per-host event: evaluated, recorded and counted once, answered the same the second time', async () => {
    // Prepare
    const { pipeline, store, metrics } = await setup();
    // Act
    const first = await pipeline.handle(invocationEvent());
    const again = await pipeline.handle(invocationEvent());
    // Assess
    expect(again).toEqual(first);
    expect(first).toMatchObject({ kind: 'evaluated', critical: 1 });
    expect(ssm.commandCalls(GetCommandInvocationCommand)).toHaveLength(1);
    expect(await store.recentRuns('web', 10)).toHaveLength(1);
    expect(metrics.filter((m) => m.startsWith('HostsEvaluated'))).toEqual(['HostsEvaluated=1 {"runbook":"health-check","stack":"web"}']);
  });

  it('a command event: its alerts are sent and counted once', async () => {
    // Prepare
    const { pipeline, metrics } = await setup();
    await pipeline.handle(invocationEvent());
    // Act
    await pipeline.handle(commandEvent());
    await pipeline.handle(commandEvent());
    await pipeline.handle(invocationEvent());
    // Assess
    expect(published()).toBe(1);
    expect(metrics.filter((m) => m.startsWith('AlertsSent'))).toEqual(['AlertsSent=1 {"stack":"web"}']);
  });

  it('an alarm change: one message, counted once with the same dimensions as host alerts', async () => {
    // Prepare
    const { pipeline, metrics } = await setup();
    // Act
    await pipeline.handle(alarmEvent());
    await pipeline.handle(alarmEvent());
    // Assess
    expect(published()).toBe(1);
    expect(metrics).toEqual(['AlertsSent=1 {"stack":"fleet"}']);
  });

  it('keeps its idempotency records in the state table, under their own partition and with its TTL attribute', async () => {
    // Prepare
    const { pipeline, name } = await setup();
    // Act
    await pipeline.handle(invocationEvent());
    await pipeline.handle(commandEvent());
    // Assess
    const r = await local.doc.send(new QueryCommand({ TableName: name, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': 'IDEMPOTENCY#result' } }));
    expect(r.Items!.map((i) => String(i.sk).split('#')[0]).sort()).toEqual(['command', 'invocation']);
    expect(r.Items!.every((i) => i.status === 'COMPLETED' && typeof i.expiresAt === 'number')).toBe(true);
  });

  it('runs again after a failure: the failed attempt leaves no record', async () => {
    // Prepare
    const { pipeline } = await setup();
    await pipeline.handle(invocationEvent());
    sns.on(PublishCommand).rejectsOnce(Object.assign(new Error('throttled'), { name: 'ThrottlingException' })).resolves({ MessageId: 'm' });
    // Act
    await expect(pipeline.handle(commandEvent())).rejects.toThrow('throttled');
    await pipeline.handle(commandEvent());
    // Assess
    expect(published()).toBe(2);
    expect(sns.commandCalls(PublishCommand)[1]!.args[0].input.Subject).toBe(sns.commandCalls(PublishCommand)[0]!.args[0].input.Subject);
  });

  it('a backup verified twice appends its sizes once and writes verified.json once', async () => {
    // Prepare: a real S3 stand-in, the store over dynalite, and a count of marker writes
    const { store } = await setup();
    const body = Buffer.alloc(2048, 'x');
    const prefix = 'backups/web/i-1/20261122T020000Z';
    const archive = { name: 'db', kind: 'sqlite' as const, source: 'db', method: 'sqlite-backup', key: `${prefix}/db.tar.zst`, ok: true, bytes: body.length, sha256: createHash('sha256').update(body).digest('hex'), compression: 'zstd' as const, integrity: 'ok', durationMs: 5, error: null };
    await s3.client.send(new PutObjectCommand({ Bucket: 'backups', Key: archive.key, Body: body }));
    await s3.client.send(new PutObjectCommand({ Bucket: 'backups', Key: `${prefix}/manifest.json`, Body: JSON.stringify({ schema: 'shipshape.backup-manifest/1', stack: 'web', host: 'i-1', runId: 'run-9', startedAt: 'x', finishedAt: 'y', archives: [archive], tools: {} }) }));
    const result = { schema: 'shipshape.backup/1', stack: 'web', runId: 'run-9', hostname: 'web-1', host: 'i-1', startedAt: 'x', durationMs: 10, bucket: 'backups', prefix, manifestKey: `${prefix}/manifest.json`, complete: true, archives: [archive], restarts: [], missingTools: [], errors: [] } as unknown as BackupResult;
    let markers = 0;
    const counted = { send: (c: Parameters<S3Client['send']>[0]) => { if (c instanceof PutObjectCommand) markers++; return s3.client.send(c as never); } } as unknown as S3Client;
    const opts = { checksumMaxBytes: 1024 * 1024, now: Date.parse('2026-11-22T02:10:00Z') };
    // Act
    await verifyBackup(counted, store, result, fleet.stacks[0]!, opts);
    await verifyBackup(counted, store, result, fleet.stacks[0]!, opts);
    // Assess
    expect(markers).toBe(1);
    expect(await store.backupSizes('web', 'i-1')).toEqual({ db: [2048] });
  });
});
