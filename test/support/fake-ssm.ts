/**
 * A stand-in for SSM Run Command over aws-sdk-client-mock: SendCommand picks hosts by
 * tag (all targets must match) or by ID, validates parameters as SSM does, runs the
 * synthesized document on each fake host with the local document runner, keeps output
 * inline up to SSM's limit and whole in S3, and queues the status-change events.
 */
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { GetCommandInvocationCommand, ListCommandInvocationsCommand, ListCommandsCommand, SendCommandCommand, SSMClient, type SendCommandCommandInput } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { randomUUID } from 'node:crypto';
import { resolveParameters, runDocument, type CommandDocument } from './document-runner.js';
import type { FakeHost } from './fake-host.js';

export interface SimulatedHost {
  readonly instanceId: string;
  readonly tags: Record<string, string>;
  /** undefined: the host is offline and SSM cannot deliver. */
  readonly host: FakeHost | undefined;
  readonly env?: Record<string, string>;
}

interface StoredInvocation {
  Status: string;
  StatusDetails: string;
  ResponseCode: number;
  StandardOutputContent: string;
  StandardOutputUrl?: string;
  StandardErrorContent: string;
  Comment?: string;
}

export class FakeSsm {
  readonly mock = mockClient(SSMClient);
  readonly client = new SSMClient({ region: 'us-east-1' });
  readonly events: unknown[] = [];
  readonly sent: SendCommandCommandInput[] = [];
  private readonly invocations = new Map<string, StoredInvocation>();
  private readonly commands = new Map<string, SendCommandCommandInput>();

  constructor(
    private readonly documents: Record<string, CommandDocument>,
    private readonly hosts: SimulatedHost[],
    private readonly s3?: { client: S3Client; region: string },
    /** The stack specs hosts fetch (fleetSpecs(fleet)). */
    private readonly specs?: ReadonlyMap<string, string>,
  ) {
    this.mock.on(SendCommandCommand).callsFake((input: SendCommandCommandInput) => this.send(input));
    this.mock.on(GetCommandInvocationCommand).callsFake(({ CommandId, InstanceId }) => {
      const inv = this.invocations.get(`${CommandId}/${InstanceId}`);
      if (!inv) throw Object.assign(new Error('Invocation does not exist'), { name: 'InvocationDoesNotExist' });
      return inv;
    });
    // Commands run to the end inside SendCommand, so they are final when listed.
    this.mock.on(ListCommandsCommand).callsFake(({ CommandId }) => ({
      Commands: [{ CommandId, Parameters: this.commands.get(CommandId)?.Parameters, Status: this.invocationsOf(CommandId).every(([, inv]) => inv.Status === 'Success') ? 'Success' : 'Failed' }],
    }));
    this.mock.on(ListCommandInvocationsCommand).callsFake(({ CommandId }) => ({
      CommandInvocations: this.invocationsOf(CommandId).map(([InstanceId, inv]) => ({ CommandId, InstanceId, Status: inv.Status })),
    }));
  }

  private selectHosts(input: SendCommandCommandInput): SimulatedHost[] {
    if (input.InstanceIds) return this.hosts.filter((h) => input.InstanceIds!.includes(h.instanceId));
    return this.hosts.filter((h) => (input.Targets ?? []).every((t) => t.Key!.startsWith('tag:') && t.Values!.includes(h.tags[t.Key!.slice(4)] ?? '\0')));
  }

  private async send(input: SendCommandCommandInput) {
    const doc = this.documents[input.DocumentName!];
    if (!doc) throw Object.assign(new Error(`document ${input.DocumentName} not found`), { name: 'InvalidDocument' });
    try {
      resolveParameters(doc, input.Parameters ?? {});
    } catch (err) {
      throw Object.assign(new Error((err as Error).message), { name: 'InvalidParameters' });
    }
    this.sent.push(input);
    const commandId = randomUUID();
    this.commands.set(commandId, input);
    await Promise.all(this.selectHosts(input).map(async (h) => {
      let inv: StoredInvocation;
      if (!h.host) {
        inv = { Status: 'Failed', StatusDetails: 'Undeliverable', ResponseCode: -1, StandardOutputContent: '', StandardErrorContent: '' };
      } else {
        const run = await runDocument(doc, input.Parameters ?? {}, { env: h.host.env({ AWS_SSM_INSTANCE_ID: h.instanceId, ...h.env }), ...(this.specs ? { specs: this.specs } : {}) });
        inv = { Status: run.status, StatusDetails: run.status === 'TimedOut' ? 'Execution Timed Out' : run.status, ResponseCode: run.responseCode, StandardOutputContent: run.stdoutInline, StandardErrorContent: run.stderr };
        if (this.s3 && input.OutputS3BucketName) {
          const key = `${input.OutputS3KeyPrefix}/${commandId}/${h.instanceId}/awsrunShellScript/${doc.mainSteps[0]!.name}/stdout`;
          // SSM's own upload, with the same client the test reads with.
          await this.s3.client.send(new PutObjectCommand({ Bucket: input.OutputS3BucketName, Key: key, Body: run.stdout }));
          inv.StandardOutputUrl = `https://s3.${this.s3.region}.amazonaws.com/${input.OutputS3BucketName}/${key}`;
        }
      }
      if (input.Comment) inv.Comment = input.Comment;
      this.invocations.set(`${commandId}/${h.instanceId}`, inv);
      this.events.push({
        version: '0', source: 'aws.ssm', 'detail-type': 'EC2 Command Invocation Status-change Notification', region: 'us-east-1',
        detail: { 'command-id': commandId, 'document-name': input.DocumentName, 'instance-id': h.instanceId, 'requested-date-time': new Date().toISOString(), status: inv.Status },
      });
    }));
    // The command itself finishes after its invocations.
    this.events.push({
      version: '0', source: 'aws.ssm', 'detail-type': 'EC2 Command Status-change Notification', region: 'us-east-1',
      detail: { 'command-id': commandId, 'document-name': input.DocumentName, status: 'Success' },
    });
    return { Command: { CommandId: commandId, DocumentName: input.DocumentName } };
  }

  private invocationsOf(commandId: string): [string, StoredInvocation][] {
    return [...this.invocations].filter(([k]) => k.startsWith(`${commandId}/`)).map(([k, inv]) => [k.slice(commandId.length + 1), inv]);
  }

  /** Everything the hosts printed, for leak scans. */
  allOutput(): string {
    return [...this.invocations.values()].map((inv) => `${inv.StandardOutputContent}\n${inv.StandardErrorContent}`).join('\n');
  }

  /** Events emitted so far, removed from the queue. */
  drainEvents(): unknown[] {
    return this.events.splice(0);
  }

  restore(): void {
    this.mock.restore();
  }
}
