/**
 * Alert messages from state-machine notices: a subject under 100 characters, a plain-text
 * body for people, a short SMS and a JSON body for machine subscribers. Attributes:
 * `severity` (critical, warning, or escalation) for the filter policies, and `kind`
 * (firing, repeat, resolved, escalation).
 */
import { PublishCommand, type PublishCommandInput, type SNSClient } from '@aws-sdk/client-sns';
import type { AlertSeverity, Notice } from './alert-state.js';
import type { OutboxEntry } from './state-store.js';
import { clip, snsMessage, SUBJECT_LIMIT } from '../shared/sns-message.js';

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

export interface AlertContext {
  readonly fleet: string;
  readonly region: string;
  readonly topicArn: string;
  /** Console runbook name to its Automation document, for "what you can do" links. */
  readonly runbooks?: Readonly<Record<string, string>>;
}

export function runbookLink(region: string, documentName: string): string {
  return `https://${region}.console.aws.amazon.com/systems-manager/automation/execute/${encodeURIComponent(documentName)}?region=${region}`;
}

/** The console runbooks that help with these checks, most specific first. */
function actionsFor(checks: readonly string[], ctx: AlertContext): string[] {
  const rb = ctx.runbooks ?? {};
  const out: [string, string | undefined][] = [];
  if (checks.some((c) => c.startsWith('container.') || c.startsWith('probe.') || c.startsWith('remediation.'))) out.push(['Restart the service', rb['restart-service']]);
  if (checks.some((c) => c.startsWith('backup.'))) out.push(['Back up now', rb['backup-now']]);
  if (checks.some((c) => c.startsWith('drill.') || c.startsWith('restore.'))) out.push(['Restore', rb.restore]);
  if (checks.some((c) => c.startsWith('host.') || c.startsWith('container.') || c.startsWith('probe.'))) out.push(['Check again now', rb['health-check-now']]);
  out.push(['Silence it for a while', rb.silence]);
  return out.filter(([, doc]) => doc).map(([label, doc]) => `${label}: ${runbookLink(ctx.region, doc!)}`);
}

type Host = OutboxEntry['host'];
type KindGroup = 'alert' | 'escalation' | 'resolved';
const kindGroup = (n: Notice): KindGroup => (n.kind === 'firing' || n.kind === 'repeat' ? 'alert' : n.kind);
const iso = (ms: number | null) => (ms === null ? '?' : new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z'));
const ORDER: Record<string, number> = { 'alert|critical': 0, 'alert|warning': 1, 'escalation|critical': 2, 'resolved|critical': 3, 'resolved|warning': 4 };

interface Group { readonly group: KindGroup; readonly severity: AlertSeverity; readonly entries: OutboxEntry[] }

function label(g: Group): { label: string; attribute: AlertSeverity | 'escalation'; kind: string } {
  if (g.group === 'resolved') return { label: 'RESOLVED', attribute: g.severity, kind: 'resolved' };
  if (g.group === 'escalation') return { label: 'ESCALATED', attribute: 'escalation', kind: 'escalation' };
  return { label: g.severity.toUpperCase(), attribute: g.severity, kind: g.entries.some((e) => e.notice.kind === 'firing') ? 'firing' : 'repeat' };
}

function findingLines(e: OutboxEntry, resolved: boolean, withHost: boolean): string[] {
  const { finding: f, state, severity } = e.notice;
  return [
    `${(resolved ? 'OK' : severity.toUpperCase()).padEnd(8)} ${f.check}  ${f.target}${withHost ? `  on ${e.host.instanceId}` : ''}`,
    `         ${f.message}`,
    `         observed: ${f.observed ?? 'n/a'}   threshold: ${f.threshold ?? 'n/a'}`,
    `         failing since ${iso(state.since)}, ${state.runs} run(s)`,
    ...(resolved ? [] : [`         next: ${nextStep(f.check)}`]),
    '',
  ];
}

function message(ctx: AlertContext, g: Group, subject: string, intro: string[], lines: string[], hosts: Host[]): PublishCommandInput {
  const { attribute, kind } = label(g);
  const links = hosts.slice(0, 10).map((h) => consoleLink(ctx.region, h.commandId, h.instanceId));
  const first = hosts[0]!;
  const actions = g.group === 'resolved' ? [] : actionsFor(g.entries.map((e) => e.notice.finding.check), ctx);
  const text = [
    ...intro, '', ...lines,
    ...links.map((l, i) => `Command output${hosts.length > 1 ? ` (${hosts[i]!.instanceId})` : ''}: ${l}`),
    ...(actions.length ? ['', 'What you can do:', ...actions.map((a) => `  ${a}`)] : []),
  ].join('\n');
  const json = {
    kind, severity: attribute, fleet: ctx.fleet, stack: first.stack, runbook: first.runbook, runId: first.runId, commandId: first.commandId,
    hosts: hosts.map((h) => ({ host: h.instanceId, hostname: h.hostname ?? null })),
    findings: g.entries.map((e) => ({ ...e.notice.finding, host: e.host.instanceId, since: iso(e.notice.state.since), runs: e.notice.state.runs })),
    links, actions,
  };
  return snsMessage({
    topicArn: ctx.topicArn, subject: clip(subject, SUBJECT_LIMIT), text, json, sms: clip(subject, 140),
    attributes: { severity: attribute, kind, fleet: ctx.fleet, stack: first.stack, runbook: first.runbook },
  });
}

const distinctHosts = (entries: OutboxEntry[]): Host[] =>
  [...new Map(entries.map((e) => [e.host.instanceId, e.host])).values()].sort((a, b) => a.instanceId.localeCompare(b.instanceId));

/**
 * Messages for the notices of one command. The same finding on several hosts becomes one
 * message that names the hosts; what remains goes out per host. Within each, one message per
 * kind (alert, escalation, resolved) and severity.
 */
export function buildAlerts(entries: readonly OutboxEntry[], ctx: AlertContext): PublishCommandInput[] {
  const out: { order: number; msg: PublishCommandInput }[] = [];
  const same = new Map<string, OutboxEntry[]>();
  for (const e of entries) {
    const k = [e.host.stack, kindGroup(e.notice), e.notice.severity, e.host.runbook, e.notice.finding.check, e.notice.finding.target].join('|');
    same.set(k, [...(same.get(k) ?? []), e]);
  }
  const single: OutboxEntry[] = [];
  for (const group of same.values()) {
    const hosts = distinctHosts(group);
    if (hosts.length < 2) {
      single.push(...group);
      continue;
    }
    group.sort((a, b) => a.host.instanceId.localeCompare(b.host.instanceId));
    const e0 = group[0]!;
    const g: Group = { group: kindGroup(e0.notice), severity: e0.notice.severity, entries: group };
    const { label: l } = label(g);
    const f = e0.notice.finding;
    const subject = `[${l}] ${ctx.fleet}/${e0.host.stack}: ${f.check} ${f.target} on ${hosts.length} hosts`;
    const shown = hosts.slice(0, 50).map((h) => `  ${h.instanceId}${h.hostname ? ` (${h.hostname})` : ''}`);
    const intro = [
      `shipshape ${e0.host.runbook}: ${f.check} ${f.target} ${g.group === 'resolved' ? 'resolved' : `is ${e0.notice.severity}`} on ${hosts.length} hosts of ${e0.host.stack}`,
      '', `Fleet: ${ctx.fleet}   Stack: ${e0.host.stack}   Run: ${e0.host.runId}`, '', 'Hosts:', ...shown,
      ...(hosts.length > 50 ? [`  and ${hosts.length - 50} more`] : []),
    ];
    out.push({ order: ORDER[`${g.group}|${g.severity}`] ?? 9, msg: message(ctx, g, subject, intro, findingLines(e0, g.group === 'resolved', false), hosts) });
  }
  const perHost = new Map<string, OutboxEntry[]>();
  for (const e of single) {
    const k = [e.host.instanceId, kindGroup(e.notice), e.notice.severity].join('|');
    perHost.set(k, [...(perHost.get(k) ?? []), e]);
  }
  for (const group of perHost.values()) {
    const e0 = group[0]!;
    const g: Group = { group: kindGroup(e0.notice), severity: e0.notice.severity, entries: group };
    const h = e0.host;
    const hostLabel = h.hostname ? `${h.instanceId} (${h.hostname})` : h.instanceId;
    const count = g.group === 'resolved' ? `${group.length} resolved` : `${group.length} ${g.group === 'escalation' ? 'critical, unresolved' : g.severity}${label(g).kind === 'repeat' ? ', still failing' : ''}`;
    const subject = `[${label(g).label}] ${ctx.fleet}/${h.stack} ${h.instanceId}: ${count}`;
    const intro = [`shipshape ${h.runbook}: ${count} on ${hostLabel}`, '', `Fleet: ${ctx.fleet}   Stack: ${h.stack}   Host: ${hostLabel}`, `Run: ${h.runId}   SSM status: ${h.status}`];
    out.push({ order: ORDER[`${g.group}|${g.severity}`] ?? 9, msg: message(ctx, g, subject, intro, group.flatMap((e) => findingLines(e, g.group === 'resolved', false)), [h]) });
  }
  return out.sort((a, b) => a.order - b.order).map((o) => o.msg);
}

export async function publishAlert(sns: Pick<SNSClient, 'send'>, alert: PublishCommandInput): Promise<string | undefined> {
  const out = await sns.send(new PublishCommand(alert));
  return out.MessageId;
}
