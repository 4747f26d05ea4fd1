/**
 * Alert messages: a subject under 100 characters, a plain-text body for people, a short
 * SMS and a JSON body for machine subscribers, with a `severity` attribute that the
 * subscription filter policies route on.
 */
import { PublishCommand, type PublishCommandInput, type SNSClient } from '@aws-sdk/client-sns';
import { failing, type Finding } from '../../lib/results/findings.js';
import type { HostOutcome } from './outcome.js';

export const SUBJECT_LIMIT = 99;

const NEXT_STEPS: Record<string, string> = {
  'host.reachable': 'Check the instance is running and its SSM agent is online (Fleet Manager), and that its role allows SSM.',
  'run.timeout': 'Look for a hung docker daemon (`docker ps` hangs?) or a probe target that never answers.',
  'run.output': 'Open the command output; the script may have been killed or the host may lack bash.',
  'host.disk': 'Free space: `docker system df`, prune old images, check container log sizes.',
  'host.memory': 'Find the largest consumers with `docker stats --no-stream`; consider memory limits.',
  'host.cpu': 'Find busy containers with `docker stats --no-stream`.',
  'host.load': 'Check for CPU or I/O contention with `top` and `docker stats`.',
  'host.tool': 'Install the missing tool on the host (see README, host requirements).',
  'container.exists': 'Recreate the service: `docker compose up -d <service>` in the compose directory.',
  'container.state': 'Read `docker logs --tail 100 <container>`, then `docker compose up -d <service>`.',
  'container.health': 'Inspect the failing HEALTHCHECK: `docker inspect --format "{{json .State.Health}}" <container>`.',
  'container.memory': 'Check for a leak in `docker stats`; restart the service if it keeps growing.',
  'container.logs': 'Read the matching lines: `docker logs --since <window> <container> | grep -iE "<pattern>"`.',
  'probe.http': 'Call the URL on the host with `curl -v`, then read the service logs.',
  'probe.latency': 'Check load on the service and its dependencies; compare with `docker stats`.',
  'probe.tcp': 'Check the listener inside the container and the port mapping (`docker port <container>`).',
  'probe.process': 'Read the container logs; restart the service if its main process died.',
};

export function nextStep(check: string): string {
  return NEXT_STEPS[check] ?? 'Open the run output in the console for details.';
}

export function consoleLink(region: string, commandId: string, instanceId: string): string {
  return `https://${region}.console.aws.amazon.com/systems-manager/run-command/${commandId}/${instanceId}?region=${region}`;
}

/** SNS subjects must be ASCII without control characters. */
function clip(text: string, max: number): string {
  const ascii = text.replace(/[^\x20-\x7e]/g, '?');
  return ascii.length > max ? `${ascii.slice(0, max - 3)}...` : ascii;
}

export interface AlertContext {
  readonly fleet: string;
  readonly region: string;
  readonly topicArn: string;
}

/**
 * One message per severity present on the host, so that filter policies route exactly:
 * a critical-only recipient never gets warning noise, and each message says what the
 * other one holds.
 */
export function buildAlerts(outcome: HostOutcome, ctx: AlertContext): PublishCommandInput[] {
  const bad = failing(outcome.findings);
  const host = outcome.hostname ? `${outcome.instanceId} (${outcome.hostname})` : outcome.instanceId;
  const link = consoleLink(ctx.region, outcome.commandId, outcome.instanceId);
  const levels = (['critical', 'warning'] as const).filter((sev) => bad.some((f) => f.severity === sev));
  return levels.map((severity) => {
    const mine = bad.filter((f) => f.severity === severity);
    const others = bad.length - mine.length;
    const count = `${mine.length} ${severity}`;
    const subject = clip(`[${severity.toUpperCase()}] ${ctx.fleet}/${outcome.stack} ${outcome.instanceId}: ${count}`, SUBJECT_LIMIT);
    const lines = mine.flatMap((f: Finding) => [
      `${f.severity.toUpperCase().padEnd(8)} ${f.check}  ${f.target}`,
      `         ${f.message}`,
      `         observed: ${f.observed ?? 'n/a'}   threshold: ${f.threshold ?? 'n/a'}`,
      `         next: ${nextStep(f.check)}`,
      '',
    ]);
    const text = [
      `shipshape ${outcome.runbook}: ${count} on ${host}`,
      '',
      `Fleet: ${ctx.fleet}   Stack: ${outcome.stack}   Host: ${host}`,
      `Run: ${outcome.runId}   SSM status: ${outcome.status}`,
      '',
      ...lines,
      ...(others ? [`This host also has ${others} finding(s) of another severity, sent in a separate message.`, ''] : []),
      `Command output: ${link}`,
    ].join('\n');
    const json = JSON.stringify({
      fleet: ctx.fleet, stack: outcome.stack, host: outcome.instanceId, hostname: outcome.hostname ?? null, runbook: outcome.runbook,
      runId: outcome.runId, commandId: outcome.commandId, severity, findings: mine, link,
    });
    return {
      TopicArn: ctx.topicArn,
      Subject: subject,
      MessageStructure: 'json',
      Message: JSON.stringify({ default: text, email: text, sms: clip(subject, 140), https: json, sqs: json, lambda: json }),
      MessageAttributes: {
        severity: { DataType: 'String', StringValue: severity },
        fleet: { DataType: 'String', StringValue: ctx.fleet },
        stack: { DataType: 'String', StringValue: outcome.stack },
        runbook: { DataType: 'String', StringValue: outcome.runbook },
      },
    };
  });
}

export async function publishAlert(sns: Pick<SNSClient, 'send'>, alert: PublishCommandInput): Promise<string | undefined> {
  const out = await sns.send(new PublishCommand(alert));
  return out.MessageId;
}
