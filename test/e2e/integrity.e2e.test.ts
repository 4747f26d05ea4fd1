/**
 * Weekly integrity check, end to end: dispatcher → the synthesized integrity document on a
 * fake host (real sqlite3 and openssl) → result Lambda → one grouped critical alert.
 */
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dispatch } from '../../lambdas/dispatcher/dispatch.js';
import { processCommandEvent, processInvocationEvent } from '../../lambdas/result/process.js';
import { fleetSpecs } from '../../lib/runbooks/spec.js';
import { documentsOf } from '../support/document-runner.js';
import { makeCert } from '../support/certs.js';
import { FakeHost, running } from '../support/fake-host.js';
import { FakeSsm } from '../support/fake-ssm.js';
import { demoFleet } from '../support/fleets.js';
import { MemoryStateStore } from '../support/memory-store.js';
import { synthFleet } from '../support/synth.js';

const sns = mockClient(SNSClient);
const host = new FakeHost();
afterAll(() => host.dispose());

describe('scheduled integrity check, end to end', () => {
  it('turns a corrupt database and a certificate about to expire into one critical alert per host', async () => {
    // Prepare: a corrupt database in the container and a certificate with 3 days left on the host
    const root = join(host.dir, 'root');
    mkdirSync(join(root, 'data'), { recursive: true });
    const db = join(root, 'data', 'app.db');
    execFileSync('sqlite3', [db, 'CREATE TABLE t(x, y); WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM s WHERE i < 2000) INSERT INTO t SELECT i, hex(randomblob(50)) FROM s; CREATE INDEX ti ON t(y);']);
    const bytes = readFileSync(db);
    bytes.fill(0x42, 8192, 12288);
    writeFileSync(db, bytes);
    const cert = makeCert({ cn: 'web.example.com', sans: ['web.example.com'], days: 3 });
    host.setContainers({ 'web-db-1': running({ root }), 'web-api-1': running() });
    const fleet = demoFleet((f) => {
      f.stacks[0]!.integrity = {
        sqlite: [{ name: 'app-db', container: 'web-db-1', path: '/data/app.db' }],
        certificates: [{ name: 'web-cert', file: cert.cert, expectName: 'web.example.com' }],
      };
    });
    const documents = documentsOf(synthFleet(fleet).template.toJSON() as never);
    const docNames = Object.fromEntries(Object.entries(documents).map(([id, d]) => [d.description.includes(': integrity checks') ? 'integrity' : 'health-check', id]));
    const ssm = new FakeSsm(documents, [{ instanceId: 'i-0123456789abcdef0', tags: { 'shipshape:fleet': 'demo', Role: 'web' }, host }], undefined, fleetSpecs(fleet));
    sns.on(PublishCommand).resolves({ MessageId: 'm' });
    try {
      // Act
      await dispatch(ssm.client, { fleet, documents: docNames, outputBucket: 'out' }, { runbook: 'integrity', stack: 'web', trigger: 'schedule' });
      const ctx = { fleet, documents: docNames, region: 'us-east-1', topicArn: 'arn:aws:sns:us-east-1:111122223333:alerts', store: new MemoryStateStore() };
      const clients = { ssm: ssm.client, s3: new S3Client({ region: 'us-east-1' }), sns: new SNSClient({ region: 'us-east-1' }) };
      for (const e of ssm.drainEvents() as { 'detail-type': string }[]) {
        if (e['detail-type'] === 'EC2 Command Status-change Notification') await processCommandEvent(clients, ctx, e);
        else await processInvocationEvent(clients, ctx, e);
      }
    } finally {
      ssm.restore();
    }
    // Assess
    const sent = sns.commandCalls(PublishCommand).map((c) => c.args[0].input);
    expect(sent.map((m) => m.Subject)).toEqual([expect.stringMatching(/^\[CRITICAL\] demo\/web \S+: \S+ (certificate expires in \d+ days|database integrity check failed) \(\+1 more\)$/)]);
    const findings = JSON.parse(JSON.parse(sent[0]!.Message!).sqs).findings.map((f: { check: string; target: string }) => `${f.check} ${f.target}`);
    expect(findings).toEqual(['integrity.sqlite app-db', 'integrity.cert web-cert']);
  });
});
