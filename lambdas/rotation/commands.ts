/**
 * Runs one of the fleet's documents on every host of a stack and waits for the outcome:
 * what the rotation steps need (apply the secret, then health-check), synchronously.
 */
import { GetCommandInvocationCommand, ListCommandInvocationsCommand, ListCommandsCommand, SendCommandCommand, type SSMClient } from '@aws-sdk/client-ssm';
import type { Fleet } from '../../lib/config/schema.js';
import { buildCommands } from '../dispatcher/dispatch.js';

export interface HostRun {
  readonly instanceId: string;
  readonly status: string;
  readonly stdout: string;
}

const FINAL = new Set(['Success', 'Failed', 'TimedOut', 'Cancelled']);

export async function runOnStack(
  ssm: Pick<SSMClient, 'send'>,
  opts: { fleet: Fleet; documents: Record<string, string>; outputBucket: string; runbook: string; stack: string; runId: string; parameters?: Record<string, string>; waitSeconds: number; sleep: (ms: number) => Promise<void> },
): Promise<HostRun[]> {
  const commands = buildCommands({ fleet: opts.fleet, documents: opts.documents, outputBucket: opts.outputBucket }, { runbook: opts.runbook, stack: opts.stack }, opts.runId)
    // One failing host is enough to roll back: stop sending at the first error.
    .map((c) => ({ ...c, MaxErrors: '0', Parameters: { ...c.Parameters, ...Object.fromEntries(Object.entries(opts.parameters ?? {}).map(([k, v]) => [k, [v]])) } }));
  const runs: HostRun[] = [];
  for (const input of commands) {
    const sent = await ssm.send(new SendCommandCommand(input));
    const commandId = sent.Command!.CommandId!;
    let waited = 0;
    for (;;) {
      const listed = await ssm.send(new ListCommandsCommand({ CommandId: commandId }));
      if (FINAL.has(listed.Commands?.[0]?.Status ?? '')) break;
      if (waited >= opts.waitSeconds * 1000) throw new Error(`${opts.runbook} on stack ${opts.stack} did not finish within ${opts.waitSeconds} s (command ${commandId})`);
      await opts.sleep(5000);
      waited += 5000;
    }
    const invocations = await ssm.send(new ListCommandInvocationsCommand({ CommandId: commandId }));
    for (const inv of invocations.CommandInvocations ?? []) {
      const out = await ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: inv.InstanceId! }));
      runs.push({ instanceId: inv.InstanceId!, status: out.StatusDetails ?? out.Status ?? 'Unknown', stdout: out.StandardOutputContent ?? '' });
    }
  }
  if (runs.length === 0) throw new Error(`no host of stack ${opts.stack} answered ${opts.runbook}; refusing to rotate a secret nobody uses`);
  return runs;
}
