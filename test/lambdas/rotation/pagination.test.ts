/**
 * The rotation function reads lists that span pages through the SDK's own paginators: commands of
 * a document (ListCommands), a command's invocations (ListCommandInvocations) and a secret's
 * versions (ListSecretVersionIds). Each is served here in several pages, with NextToken.
 */
import { ListSecretVersionIdsCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ListCommandInvocationsCommand, ListCommandsCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { listCommandsOf, listInvocations } from '../../../lambdas/rotation/commands.js';
import { createdDate } from '../../../lambdas/rotation/operate.js';

const ssmMock = mockClient(SSMClient);
const smMock = mockClient(SecretsManagerClient);
const ssm = new SSMClient({ region: 'us-east-1' });
const sm = new SecretsManagerClient({ region: 'us-east-1' });
afterAll(() => { ssmMock.restore(); smMock.restore(); });
beforeEach(() => { ssmMock.reset(); smMock.reset(); asked.length = 0; });

/** Inputs as they were when sent: the SDK's paginators reuse one input object, setting its NextToken per page. */
const asked: Record<string, unknown>[] = [];
const record = <T extends object>(pages: Record<string, T>) => (input: Record<string, unknown>): T => {
  asked.push({ ...input });
  const page = pages[String(input.NextToken)];
  if (!page) throw new Error(`page ${String(input.NextToken)} was not expected`);
  return page;
};

const id = (n: number) => `00000000-0000-0000-0000-${String(n).padStart(12, '0')}`;

describe('listCommandsOf', () => {
  it('reads every page of ListCommands and keeps the commands whose comment matches, from any page', async () => {
    // Prepare: 3 pages; the matching commands are on the first and the last
    ssmMock.on(ListCommandsCommand).callsFake(record({
      undefined: { Commands: [{ CommandId: id(1), Comment: 'shipshape web apply-secret set-a' }, { CommandId: id(2), Comment: 'other' }], NextToken: 'p2' },
      p2: { Commands: [{ CommandId: id(3), Comment: 'other' }], NextToken: 'p3' },
      p3: { Commands: [{ CommandId: id(4), Comment: 'shipshape web apply-secret set-a' }] },
    }));
    // Act
    const found = await listCommandsOf(ssm, 'ApplyDoc', new Date('2026-11-20T10:00:00.123Z'), (c) => c.startsWith('shipshape web'));
    // Assess
    expect(found.map((c) => c.CommandId)).toEqual([id(1), id(4)]);
    expect(asked.map((i) => i.NextToken)).toEqual([undefined, 'p2', 'p3']);
    expect(asked.every((i) => i.MaxResults === 50)).toBe(true);
    expect(asked[2]!.Filters).toEqual([{ key: 'DocumentName', value: 'ApplyDoc' }, { key: 'InvokedAfter', value: '2026-11-20T10:00:00Z' }]);
  });

  it('makes one call when the first page has no NextToken', async () => {
    ssmMock.on(ListCommandsCommand).resolves({ Commands: [] });
    expect(await listCommandsOf(ssm, 'ApplyDoc', new Date(0), () => true)).toEqual([]);
    expect(ssmMock.commandCalls(ListCommandsCommand)).toHaveLength(1);
  });
});

describe('listInvocations', () => {
  it('reads every page of ListCommandInvocations, with the status details of each host', async () => {
    // Prepare: 50 hosts on the first page, 2 on the second
    const hosts = Array.from({ length: 52 }, (_, i) => `i-${String(i).padStart(17, '0')}`);
    ssmMock.on(ListCommandInvocationsCommand).callsFake(record({
      undefined: { CommandInvocations: hosts.slice(0, 50).map((InstanceId) => ({ InstanceId, Status: 'Success', StatusDetails: 'Success' })), NextToken: 'more' },
      more: { CommandInvocations: [{ InstanceId: hosts[50], Status: 'Failed', StatusDetails: 'Failed' }, { InstanceId: hosts[51], Status: 'InProgress' }] },
    }));
    // Act
    const all = await listInvocations(ssm, id(9));
    // Assess
    expect(all).toHaveLength(52);
    expect(all.slice(-2)).toEqual([{ instanceId: hosts[50], status: 'Failed' }, { instanceId: hosts[51], status: 'InProgress' }]);
    expect(asked).toEqual([{ CommandId: id(9), MaxResults: 50, NextToken: undefined }, { CommandId: id(9), MaxResults: 50, NextToken: 'more' }]);
  });
});

describe('createdDate', () => {
  it('finds a version on a later page of ListSecretVersionIds and stops reading there', async () => {
    // Prepare
    const created = new Date('2026-11-01T00:00:00Z');
    smMock.on(ListSecretVersionIdsCommand).callsFake(record({
      undefined: { Versions: [{ VersionId: 'v-old', CreatedDate: new Date(0) }], NextToken: 't2' },
      t2: { Versions: [{ VersionId: 'v-pending', CreatedDate: created }], NextToken: 't3' },
    }));
    // Act
    const found = await createdDate(sm, 'shipshape/demo/web/jwt', 'v-pending');
    // Assess
    expect(found).toEqual(created);
    // Page t3 is never asked for.
    expect(asked).toEqual([
      { SecretId: 'shipshape/demo/web/jwt', IncludeDeprecated: false, NextToken: undefined },
      { SecretId: 'shipshape/demo/web/jwt', IncludeDeprecated: false, NextToken: 't2' },
    ]);
  });

  it('fails to find a version on no page: undefined after the last page', async () => {
    smMock.on(ListSecretVersionIdsCommand).callsFake(record({ undefined: { Versions: [{ VersionId: 'v-a' }], NextToken: 't2' }, t2: { Versions: [{ VersionId: 'v-b' }] } }));
    expect(await createdDate(sm, 's', 'v-missing')).toBeUndefined();
    expect(asked.map((i) => i.NextToken)).toEqual([undefined, 't2']);
  });
});
