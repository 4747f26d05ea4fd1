/**
 * Reads what a host printed for one command invocation: inline from SSM when it fits,
 * from the S3 output copy when SSM truncated it (24,000 characters inline).
 */
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { GetCommandInvocationCommand, ListCommandsCommand, type SSMClient } from '@aws-sdk/client-ssm';
import * as z from 'zod';
import { withBackoff, type BackoffOptions } from '../shared/retry.js';

/** SSM keeps this many characters of stdout inline; anything longer is cut. */
export const INLINE_OUTPUT_LIMIT = 24_000;
/** Cap on what we read back from S3, so a runaway host cannot exhaust the function. */
export const MAX_OUTPUT_BYTES = 4 * 1024 * 1024;

export const InvocationEvent = z.object({
  source: z.literal('aws.ssm'),
  'detail-type': z.literal('EC2 Command Invocation Status-change Notification'),
  time: z.string().optional(),
  region: z.string().optional(),
  detail: z.object({
    'command-id': z.string().regex(/^[0-9a-f-]{36}$/),
    'document-name': z.string().min(1).max(200),
    'instance-id': z.string().regex(/^(i|mi)-[0-9a-f]{8,17}$/),
    'requested-date-time': z.string().optional(),
    status: z.string(),
  }),
});
export type InvocationEvent = z.infer<typeof InvocationEvent>;

export interface Invocation {
  readonly commandId: string;
  readonly instanceId: string;
  readonly documentName: string;
  readonly status: string;
  readonly statusDetails: string;
  readonly responseCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly comment: string | undefined;
  /** True when stdout came from S3 because the inline copy was cut. */
  readonly fromS3: boolean;
}

/** Bucket and key from the S3 URLs SSM reports (path or virtual-hosted style). */
export function parseS3Url(url: string): { bucket: string; key: string } | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  const path = decodeURIComponent(u.pathname.replace(/^\//, ''));
  const virtual = /^(.+)\.s3[.-]([a-z0-9-]+\.)?amazonaws\.com(\.cn)?$/.exec(u.hostname);
  if (virtual) return path ? { bucket: virtual[1]!, key: path } : undefined;
  if (/^s3[.-]([a-z0-9-]+\.)?amazonaws\.com(\.cn)?$/.test(u.hostname) || u.hostname === 'localhost' || u.hostname === '127.0.0.1') {
    const slash = path.indexOf('/');
    return slash > 0 ? { bucket: path.slice(0, slash), key: path.slice(slash + 1) } : undefined;
  }
  return undefined;
}

export function looksTruncated(inline: string): boolean {
  return inline.length >= INLINE_OUTPUT_LIMIT || inline.includes('---Output truncated---');
}

const invocationNotReady = (err: unknown) => (err as { name?: string })?.name === 'InvocationDoesNotExist';

export async function readInvocation(
  clients: { ssm: Pick<SSMClient, 'send'>; s3: Pick<S3Client, 'send'> },
  detail: InvocationEvent['detail'],
  backoff: BackoffOptions = {},
): Promise<Invocation> {
  const inv = await withBackoff(
    () => clients.ssm.send(new GetCommandInvocationCommand({ CommandId: detail['command-id'], InstanceId: detail['instance-id'] })),
    // The status event can arrive before the invocation is readable.
    { attempts: 5, baseMs: 500, ...backoff, retryable: (e) => invocationNotReady(e) || (backoff.retryable ?? (() => false))(e) },
  );
  let stdout = inv.StandardOutputContent ?? '';
  let fromS3 = false;
  if (looksTruncated(stdout) && inv.StandardOutputUrl) {
    const loc = parseS3Url(inv.StandardOutputUrl);
    if (loc) {
      const obj = await clients.s3.send(new GetObjectCommand({ Bucket: loc.bucket, Key: loc.key, Range: `bytes=0-${MAX_OUTPUT_BYTES - 1}` }));
      stdout = (await obj.Body?.transformToString('utf-8')) ?? stdout;
      fromS3 = true;
    }
  }
  return {
    commandId: detail['command-id'],
    instanceId: detail['instance-id'],
    documentName: detail['document-name'],
    status: inv.Status ?? detail.status,
    statusDetails: inv.StatusDetails ?? detail.status,
    responseCode: typeof inv.ResponseCode === 'number' ? inv.ResponseCode : null,
    stdout,
    stderr: inv.StandardErrorContent ?? '',
    comment: inv.Comment,
    fromS3,
  };
}

/** Stack parameter of a command, for runs started by hand without our comment. */
export async function commandStackParameter(ssm: Pick<SSMClient, 'send'>, commandId: string): Promise<string | undefined> {
  const out = await ssm.send(new ListCommandsCommand({ CommandId: commandId }));
  return out.Commands?.[0]?.Parameters?.Stack?.[0];
}

/** The one JSON document a host script printed; tolerates noise lines before it. */
export function extractJson(stdout: string): unknown {
  const trimmed = stdout.trim();
  if (!trimmed) throw new Error('the host printed nothing');
  try {
    return JSON.parse(trimmed);
  } catch {
    const lines = trimmed.split('\n').filter((l) => l.trimStart().startsWith('{'));
    const last = lines[lines.length - 1];
    if (last) return JSON.parse(last);
    throw new Error('the host output holds no JSON document');
  }
}
