/**
 * SSM Run Command as the rotation function meets it, over aws-sdk-client-mock, for any number of
 * hosts: ListCommands by ID or by document filter (with Comment and RequestedDateTime),
 * ListCommandInvocations in pages of at most 50 with NextToken, GetCommandInvocation cutting
 * stdout at 24,000 characters with the whole copy in S3 (StandardOutputUrl, served by the S3
 * mock), CancelCommand, and commands that stay InProgress for a number of polls, or forever.
 * What a host prints comes from the test's `run` function, called once per host at send time.
 */
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  CancelCommandCommand, GetCommandInvocationCommand, ListCommandInvocationsCommand, ListCommandsCommand, SendCommandCommand, SSMClient, type SendCommandCommandInput,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';

export interface HostOutput { status?: string; stdout: string }

interface SimCommand {
  readonly id: string;
  readonly input: SendCommandCommandInput;
  readonly requestedAt: Date;
  pollsLeft: number;
  status: string;
  readonly outputs: Map<string, HostOutput>;
}

export const INLINE = 24_000;

export class SimSsm {
  readonly ssm = mockClient(SSMClient);
  readonly s3 = mockClient(S3Client);
  readonly commands: SimCommand[] = [];
  /** Every page of ListCommandInvocations asked for, as it was asked (the SDK's paginator reuses one input object). */
  readonly invocationPages: { CommandId: string; NextToken: string | undefined }[] = [];
  /** Polls of ListCommands(CommandId) a new command stays InProgress; Infinity: it never ends by itself. */
  slowPolls = 0;
  now: () => Date = () => new Date();
  private seq = 0;

  constructor(public hosts: string[], private readonly run: (document: string, parameters: Record<string, string>, host: string) => HostOutput) {
    this.install();
  }

  reset(): void {
    this.ssm.reset();
    this.s3.reset();
    this.commands.length = 0;
    this.invocationPages.length = 0;
    this.slowPolls = 0;
    this.install();
  }

  /** Documents and stages sent so far, e.g. ['ApplyDoc AWSPENDING', 'HealthDoc']. */
  sent(): string[] {
    return this.commands.map((c) => [c.input.DocumentName, c.input.Parameters?.Stage?.[0]].filter(Boolean).join(' '));
  }

  private install(): void {
    this.ssm.on(SendCommandCommand).callsFake((input: SendCommandCommandInput) => {
      const id = `0b9c1a2e-0000-0000-0000-${String(++this.seq).padStart(12, '0')}`;
      const params = Object.fromEntries(Object.entries(input.Parameters ?? {}).map(([k, v]) => [k, v[0]!]));
      const targets = input.InstanceIds ?? this.hosts;
      const outputs = new Map(targets.map((h) => [h, this.run(input.DocumentName!, params, h)]));
      this.commands.push({ id, input, requestedAt: this.now(), pollsLeft: this.slowPolls, status: this.slowPolls > 0 ? 'InProgress' : 'Success', outputs });
      return { Command: { CommandId: id, DocumentName: input.DocumentName } };
    });
    this.ssm.on(ListCommandsCommand).callsFake(({ CommandId, Filters, NextToken, MaxResults }) => {
      const view = (c: SimCommand) => ({ CommandId: c.id, DocumentName: c.input.DocumentName, Comment: c.input.Comment, Status: c.status, RequestedDateTime: c.requestedAt, Targets: c.input.Targets, InstanceIds: c.input.InstanceIds ?? [], Parameters: c.input.Parameters });
      if (CommandId) {
        const c = this.commands.find((x) => x.id === CommandId);
        if (!c) throw Object.assign(new Error('Invalid command ID'), { name: 'InvalidCommandId' });
        if (c.status === 'InProgress' && Number.isFinite(c.pollsLeft) && --c.pollsLeft <= 0) c.status = 'Success';
        return { Commands: [view(c)] };
      }
      const doc = Filters?.find((f: { key: string }) => f.key === 'DocumentName')?.value;
      const after = Filters?.find((f: { key: string }) => f.key === 'InvokedAfter')?.value;
      const all = this.commands.filter((c) => (!doc || c.input.DocumentName === doc) && (!after || c.requestedAt >= new Date(after)));
      const start = Number(NextToken ?? 0);
      const size = Math.min(MaxResults ?? 50, 50);
      return { Commands: all.slice(start, start + size).map(view), ...(start + size < all.length ? { NextToken: String(start + size) } : {}) };
    });
    this.ssm.on(ListCommandInvocationsCommand).callsFake(({ CommandId, NextToken, MaxResults }) => {
      this.invocationPages.push({ CommandId: CommandId!, NextToken });
      const c = this.commands.find((x) => x.id === CommandId)!;
      const size = Math.min(MaxResults ?? 50, 50);
      const start = Number(NextToken ?? 0);
      const hosts = [...c.outputs.keys()];
      const status = (h: string) => (c.status === 'Success' ? (c.outputs.get(h)!.status ?? 'Success') : c.status);
      return { CommandInvocations: hosts.slice(start, start + size).map((InstanceId) => ({ CommandId, InstanceId, Status: status(InstanceId), StatusDetails: status(InstanceId) })), ...(start + size < hosts.length ? { NextToken: String(start + size) } : {}) };
    });
    this.ssm.on(GetCommandInvocationCommand).callsFake(({ CommandId, InstanceId }) => {
      const c = this.commands.find((x) => x.id === CommandId)!;
      const out = c.outputs.get(InstanceId)!;
      const status = c.status === 'Success' ? (out.status ?? 'Success') : c.status;
      const key = `command-output/x/${CommandId}/${InstanceId}/awsrunShellScript/step/stdout`;
      return {
        CommandId, InstanceId, Comment: c.input.Comment, Status: status, StatusDetails: status, ResponseCode: status === 'Success' ? 0 : 1,
        StandardOutputContent: out.stdout.length > INLINE ? out.stdout.slice(0, INLINE) : out.stdout,
        StandardOutputUrl: `https://s3.eu-central-1.amazonaws.com/${c.input.OutputS3BucketName}/${key}`,
        StandardErrorContent: '',
      };
    });
    this.ssm.on(CancelCommandCommand).callsFake(({ CommandId }) => {
      const c = this.commands.find((x) => x.id === CommandId)!;
      c.status = 'Cancelled';
      return {};
    });
    this.s3.on(GetObjectCommand).callsFake(({ Key }) => {
      const [, , commandId, host] = String(Key).split('/');
      const out = this.commands.find((x) => x.id === commandId)!.outputs.get(host!)!;
      return { Body: { transformToString: async () => out.stdout } as never };
    });
  }
}
