/**
 * Alert messages from state-machine notices: a subject under 100 characters, a plain-text
 * body for people, a short SMS and a JSON body for machine subscribers. Attributes:
 * `severity` (critical, warning, or escalation) for the filter policies, and `kind`
 * (firing, repeat, resolved, escalation).
 */
import { PublishCommand, type PublishCommandInput, type SNSClient } from '@aws-sdk/client-sns';
import type { AlertSeverity, Notice } from './alert-state.js';
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

type Group = { label: string; attribute: AlertSeverity | 'escalation'; kind: string; notices: Notice[] };

/** Firing and reminders by severity, resolutions by the severity they had, escalations apart. */
function groups(notices: readonly Notice[]): Group[] {
  const out: Group[] = [];
  for (const severity of ['critical', 'warning'] as const) {
    const alerting = notices.filter((n) => (n.kind === 'firing' || n.kind === 'repeat') && n.severity === severity);
    if (alerting.length) {
      const kind = alerting.some((n) => n.kind === 'firing') ? 'firing' : 'repeat';
      out.push({ label: severity.toUpperCase(), attribute: severity, kind, notices: alerting });
    }
  }
  const escalations = notices.filter((n) => n.kind === 'escalation');
  if (escalations.length) out.push({ label: 'ESCALATED', attribute: 'escalation', kind: 'escalation', notices: escalations });
  for (const severity of ['critical', 'warning'] as const) {
    const resolved = notices.filter((n) => n.kind === 'resolved' && n.severity === severity);
    if (resolved.length) out.push({ label: 'RESOLVED', attribute: severity, kind: 'resolved', notices: resolved });
  }
  return out;
}

const iso = (ms: number | null) => (ms === null ? '?' : new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z'));

export function buildAlerts(outcome: HostOutcome, notices: readonly Notice[], ctx: AlertContext): PublishCommandInput[] {
  const host = outcome.hostname ? `${outcome.instanceId} (${outcome.hostname})` : outcome.instanceId;
  const link = consoleLink(ctx.region, outcome.commandId, outcome.instanceId);
  return groups(notices).map((g) => {
    const count = g.kind === 'resolved' ? `${g.notices.length} resolved` : `${g.notices.length} ${g.attribute === 'escalation' ? 'critical, unresolved' : g.attribute}${g.kind === 'repeat' ? ', still failing' : ''}`;
    const subject = clip(`[${g.label}] ${ctx.fleet}/${outcome.stack} ${outcome.instanceId}: ${count}`, SUBJECT_LIMIT);
    const lines = g.notices.flatMap(({ finding: f, state, severity }) => [
      `${(g.kind === 'resolved' ? 'OK' : severity.toUpperCase()).padEnd(8)} ${f.check}  ${f.target}`,
      `         ${f.message}`,
      `         observed: ${f.observed ?? 'n/a'}   threshold: ${f.threshold ?? 'n/a'}`,
      `         failing since ${iso(state.since)}, ${state.runs} run(s)`,
      ...(g.kind === 'resolved' ? [] : [`         next: ${nextStep(f.check)}`]),
      '',
    ]);
    const text = [
      `shipshape ${outcome.runbook}: ${count} on ${host}`,
      '',
      `Fleet: ${ctx.fleet}   Stack: ${outcome.stack}   Host: ${host}`,
      `Run: ${outcome.runId}   SSM status: ${outcome.status}`,
      '',
      ...lines,
      `Command output: ${link}`,
    ].join('\n');
    const json = JSON.stringify({
      kind: g.kind, severity: g.attribute, fleet: ctx.fleet, stack: outcome.stack, host: outcome.instanceId, hostname: outcome.hostname ?? null,
      runbook: outcome.runbook, runId: outcome.runId, commandId: outcome.commandId, link,
      findings: g.notices.map((n) => ({ ...n.finding, since: iso(n.state.since), runs: n.state.runs })),
    });
    return {
      TopicArn: ctx.topicArn,
      Subject: subject,
      MessageStructure: 'json',
      Message: JSON.stringify({ default: text, email: text, sms: clip(subject, 140), https: json, sqs: json, lambda: json }),
      MessageAttributes: {
        severity: { DataType: 'String', StringValue: g.attribute },
        kind: { DataType: 'String', StringValue: g.kind },
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
