/**
 * Scheduled backup, end to end: dispatcher → the synthesized backup document on a fake host
 * (real sqlite3, tar, zstd and AWS CLI) → s3rver → result Lambda, which verifies the run
 * against S3 and alerts only on problems.
 */
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { dispatch } from '../../lambdas/dispatcher/dispatch.js';
import { processCommandEvent, processInvocationEvent, type ProcessOutcome } from '../../lambdas/result/process.js';
import type { Fleet } from '../../lib/config/schema.js';
import { startS3 } from '../support/aws-local.js';
import { fleetSpecs } from '../../lib/runbooks/spec.js';
import { documentsOf } from '../support/document-runner.js';
import { FakeHost, running } from '../support/fake-host.js';
import { FakeSsm } from '../support/fake-ssm.js';
import { demoFleet } from '../support/fleets.js';
import { MemoryStateStore } from '../support/memory-store.js';
import { synthFleet } from '../support/synth.js';

const BUCKET = 'shipshape-backups';
const sns = mockClient(SNSClient);
let s3: Awaited<ReturnType<typeof startS3>>;
let fleet: Fleet;
let documents: ReturnType<typeof documentsOf>;
let docNames: Record<string, string>;
let host: FakeHost;
let awsBin: string;

beforeAll(async () => {
  s3 = await startS3([BUCKET, 'command-output']);
  awsBin = mkdtempSync(join(tmpdir(), 'aws-bin-'));
  symlinkSync('/usr/bin/aws', join(awsBin, 'aws'));
  host = new FakeHost();
  const root = join(host.dir, 'db-root');
  mkdirSync(join(root, 'data'), { recursive: true });
  mkdirSync(join(root, 'tmp'));
  execFileSync('sqlite3', [join(root, 'data', 'app.db'), 'CREATE TABLE t(x); INSERT INTO t VALUES (1),(2),(3);']);
  const vol = join(host.dir, 'certs');
  mkdirSync(vol);
  writeFileSync(join(vol, 'ca.pem'), 'CA');
  // The database lives on a bind mount, as it must for a host-side snapshot.
  host.setContainers({ 'web-api-1': running(), 'web-db-1': running({ root, Mounts: [{ Destination: '/data', Source: join(root, 'data') }] }) });
  host.setVolumes({ certs: vol });
  fleet = demoFleet((f) => {
    f.stacks[0]!.backup = { sqlite: [{ name: 'db', container: 'web-db-1', path: '/data/app.db' }], volumes: [{ name: 'certs' }], stop: ['web-api-1'] };
  });
  const { template } = synthFleet(fleet);
  const bucketId = Object.keys(template.findResources('AWS::S3::Bucket')).find((id) => id.startsWith('BackupStorageBackupsBucket'))!;
  documents = documentsOf(template.toJSON() as never, { [bucketId]: BUCKET });
  const runbookOf = (description: string) => (/: backup of/.test(description) ? 'backup' : /: restore /.test(description) ? 'restore' : 'health-check');
  docNames = Object.fromEntries(Object.entries(documents).map(([id, d]) => [runbookOf(d.description), id]));
});
afterAll(async () => {
  host.dispose();
  await s3.stop();
});
beforeEach(() => {
  sns.reset();
  sns.on(PublishCommand).resolves({ MessageId: 'm' });
});

async function scheduledBackup(store = new MemoryStateStore()): Promise<ProcessOutcome[]> {
  const ssm = new FakeSsm(documents, [{
    instanceId: 'i-0123456789abcdef0', tags: { 'shipshape:fleet': 'demo', Role: 'web' }, host,
    env: { PATH: `${awsBin}:${host.env().PATH}`, SHIPSHAPE_S3_ENDPOINT: s3.endpoint, SHIPSHAPE_HEALTH_WAIT_SECONDS: '2',
      AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_DEFAULT_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true', HOME: host.dir },
  }], { client: s3.client, region: 'us-east-1' }, fleetSpecs(fleet));
  try {
    await dispatch(ssm.client, { fleet, documents: docNames, outputBucket: 'command-output' }, { runbook: 'backup', stack: 'web', trigger: 'schedule' });
    const ctx = { fleet, documents: docNames, region: 'us-east-1', topicArn: 'arn:aws:sns:us-east-1:111122223333:alerts', store };
    const clients = { ssm: ssm.client, s3: s3.client, sns: new SNSClient({ region: 'us-east-1' }) };
    const outcomes: ProcessOutcome[] = [];
    for (const e of ssm.drainEvents() as { 'detail-type': string }[]) {
      if (e['detail-type'] === 'EC2 Command Status-change Notification') await processCommandEvent(clients, ctx, e);
      else outcomes.push(await processInvocationEvent(clients, ctx, e));
    }
    return outcomes;
  } finally {
    ssm.restore();
  }
}

describe('scheduled backup, end to end', () => {
  it('backs up, verifies against S3, marks the run verified and alerts nobody', async () => {
    const [o] = await scheduledBackup();
    expect(o).toMatchObject({ kind: 'evaluated', backupVerified: true, alerts: 0 });
    const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'backups/web/i-0123456789abcdef0/' }));
    const names = (listed.Contents ?? []).map((c) => c.Key!.split('/').pop()).sort();
    expect(names).toEqual(['certs.tar.zst', 'db.db.zst', 'manifest.json', 'verified.json']);
    const marker = (listed.Contents ?? []).find((c) => c.Key!.endsWith('verified.json'))!;
    const verified = JSON.parse(await (await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: marker.Key! }))).Body!.transformToString());
    expect(verified.archives.every((a: { checksumVerified: boolean }) => a.checksumVerified)).toBe(true);
    expect(sns.commandCalls(PublishCommand)).toHaveLength(0);
    expect(host.containers()['web-api-1']!.State.Status).toBe('running');
  });

  it('alerts critically when a source is gone, and the stopped container still runs afterwards', async () => {
    host.setVolumes({});
    try {
      const [o] = await scheduledBackup();
      expect(o).toMatchObject({ kind: 'evaluated', backupVerified: false });
      const subjects = sns.commandCalls(PublishCommand).map((c) => c.args[0].input.Subject);
      expect(subjects).toEqual([expect.stringMatching(/^\[CRITICAL\] demo\/web \S+: certs not backed up \(\+\d+ more\)$/)]);
      const body = JSON.parse(JSON.parse(sns.commandCalls(PublishCommand)[0]!.args[0].input.Message!).sqs);
      expect(body.findings.map((f: { check: string; target: string }) => `${f.check} ${f.target}`)).toEqual(expect.arrayContaining([
        'backup.archive certs', expect.stringMatching(/^backup\.complete backups\/web\/i-0123456789abcdef0\//),
      ]));
      expect(host.containers()['web-api-1']!.State.Status).toBe('running');
    } finally {
      host.setVolumes({ certs: join(host.dir, 'certs') });
    }
  });
});
