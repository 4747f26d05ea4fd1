/**
 * Alert messages from state-machine notices. Every message says what failed, where and
 * since when, at a glance:
 * - subject `[CRITICAL] <fleet>/<stack> <host name>: <service> <what failed> (+N more)`,
 *   ASCII, under 100 characters;
 * - an SMS of at most 160 characters that names the failure;
 * - a plain-text body for people, with times in the fleet's time zone, sizes and durations
 *   in human units, a specific next step per check, and for RESOLVED how long it was down;
 * - a JSON body for machines (and the notifier), UTC times and a stable fingerprint per alert;
 * - the whole publish request capped safely below SNS's 256 KB, the rest behind the
 *   command output link.
 * Attributes: `severity` (critical, warning, or escalation) and `level` (escalation level)
 * for the filter policies, and `kind` (firing, repeat, resolved, escalation, test).
 */
import { createHash } from 'node:crypto';
import { PublishCommand, type PublishCommandInput, type SNSClient } from '@aws-sdk/client-sns';
import type { AlertSeverity, Notice } from './alert-state.js';
import type { OutboxEntry } from './state-store.js';
import { clip, snsMessage, SUBJECT_LIMIT } from '../shared/sns-message.js';
import type { Finding } from '../../lib/results/findings.js';

/** SNS's limit for a message, attributes included. */
export const SNS_MESSAGE_LIMIT = 262_144;
/** What we allow ourselves: room for SNS's own envelope and rounding. */
export const MESSAGE_BUDGET = 240_000;
export const SMS_LIMIT = 160;

// ---------------------------------------------------------------------------- human units

export function humanBytes(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = Math.abs(n);
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const s = i === 0 ? String(v) : v < 10 ? v.toFixed(1) : String(Math.round(v));
  return `${n < 0 ? '-' : ''}${s} ${units[i]}`;
}

export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

/** "2026-11-22 14:05 CET": wall-clock time in a zone, with the zone's abbreviation. */
export function localTime(ms: number, timeZone: string): string {
  const p = Object.fromEntries(new Intl.DateTimeFormat('en-GB', {
    timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZoneName: 'short',
  }).formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute} ${p.timeZoneName}`;
}
const clock = (ms: number, timeZone: string) => localTime(ms, timeZone).slice(11);
const iso = (ms: number | null | undefined) => (ms === null || ms === undefined ? null : new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z'));

/** Checks whose numbers are bytes. */
const BYTE_CHECKS = new Set(['backup.archive', 'backup.size', 'backup.verify']);
const BYTES_IN_TEXT = /\b(\d{4,}) bytes\b/g;
export function humanValue(check: string, v: Finding['observed']): string {
  if (v === null) return 'n/a';
  if (typeof v === 'number') return BYTE_CHECKS.has(check) ? humanBytes(v) : String(v);
  return humanText(v);
}
const humanText = (s: string) => s.replace(BYTES_IN_TEXT, (_m, n: string) => humanBytes(Number(n)));

// ---------------------------------------------------------------------------- identity

/** Stable identity of one alert across messages, runs and receivers (PagerDuty dedup_key, Opsgenie alias). */
export function fingerprint(parts: { fleet: string; stack: string; host: string; runbook: string; check: string; target: string }): string {
  const key = [parts.fleet, parts.stack, parts.host, parts.runbook, parts.check, parts.target].join('\u0000');
  return `ss-${createHash('sha256').update(key).digest('hex').slice(0, 24)}`;
}

// ---------------------------------------------------------------------------- what failed, what next

const obs = (f: Finding) => humanValue(f.check, f.observed);
const HEADLINES: Record<string, (f: Finding) => string> = {
  'container.state': (f) => `not running (${obs(f)})`,
  'container.exists': () => 'container missing',
  'container.health': () => 'unhealthy',
  'container.memory': (f) => `memory at ${obs(f)}`,
  'container.logs': () => 'errors in its logs',
  'probe.http': (f) => `HTTP check failed (${obs(f)})`,
  'probe.latency': (f) => `slow (${obs(f)} ms)`,
  'probe.tcp': () => 'port not answering',
  'probe.process': () => 'process missing',
  'host.reachable': () => 'host not reachable',
  'host.disk': (f) => `disk at ${obs(f)}%`,
  'host.memory': (f) => `memory at ${obs(f)}%`,
  'host.cpu': (f) => `CPU at ${obs(f)}%`,
  'host.load': (f) => `load ${obs(f)}`,
  'host.tool': () => 'tool missing',
  'host.silent': () => 'no results from this host',
  'backup.archive': () => 'not backed up',
  'backup.complete': () => 'backup incomplete',
  'backup.verify': () => 'backup copy does not verify',
  'backup.size': () => 'backup much smaller than usual',
  'backup.restart': () => 'not healthy after backup',
  'backup.run': () => 'backup problem',
  'drill.archive': () => 'does not restore in the drill',
  'drill.run': () => 'restore drill failed',
  'restore.result': () => 'restore failed',
  'restore.rollback': () => 'restore rollback failed',
  'restore.aside': () => 'pre-restore copy left on the host',
  'restore.restart': () => 'not running after restore',
  'integrity.sqlite': () => 'database integrity check failed',
  'integrity.cert': (f) => (typeof f.observed === 'number' ? `certificate expires in ${f.observed} days` : 'certificate problem'),
  'integrity.cert-name': () => 'certificate does not cover its name',
  'integrity.connect': () => 'connection check failed',
  'integrity.file': (f) => `file ${obs(f)}`,
  'integrity.logsize': (f) => `log file large (${obs(f)})`,
  'maintenance.sqlite': () => 'database maintenance failed',
  'maintenance.prune': () => 'docker prune failed',
  'maintenance.run': () => 'maintenance failed',
  'remediation.exhausted': () => 'still failing after automatic restarts',
  'remediation.restart': () => 'restarted automatically',
  'secret.apply': () => 'secret not applied',
  'restart.service': () => 'restart failed',
  'run.timeout': () => 'run timed out',
  'run.output': () => 'run printed no result',
  'run.exit': () => 'run failed',
  'missed': () => 'missed its scheduled run',
  'run.no-targets': (f) => `no host to run ${f.target} on`,
  'backup.age': (f) => `no verified backup for ${obs(f)}`,
  'secret.age': (f) => `secret is ${obs(f)} old`,
};
/** Checks whose headline already names what they are about. */
const NO_TARGET = new Set(['backup.age', 'run.no-targets']);

/**
 * "<service> <what failed>": the phrase of subjects and SMS; host-wide checks name no target.
 * `short` drops the container in parentheses ("api (web-api-1)" becomes "api").
 */
export function headline(f: Finding, host?: { instanceId: string; hostname?: string | null | undefined }, short = false): string {
  const what = HEADLINES[f.check]?.(f) ?? `${f.check} ${obs(f)}`;
  const hostWide = NO_TARGET.has(f.check) || f.check.startsWith('host.') || f.check.startsWith('run.') || f.target === host?.instanceId || (!!host?.hostname && f.target === host.hostname);
  if (hostWide) return what;
  const name = short ? f.target.replace(/ \([^()]*\)$/, '').replace(/^([^:]{1,40}): \S+$/, '$1') : f.target;
  const target = name.length > 40 ? `${name.slice(0, 37)}...` : name;
  return `${target} ${what}`;
}

/** `prefix` + `middle` + `suffix` within `max` ASCII characters, clipping the middle so the ends survive. */
export function fitLine(prefix: string, middle: string, suffix: string, max: number): string {
  const room = max - clip(prefix, max).length - clip(suffix, max).length;
  if (room < 8) return clip(`${prefix}${middle}${suffix}`, max);
  return `${clip(prefix, max)}${clip(middle, room)}${clip(suffix, max)}`;
}

const NEXT_STEPS: Record<string, string> = {
  'host.reachable': 'Check the instance is running and its SSM agent is online (Fleet Manager), and that its role allows SSM.',
  'host.silent': 'The host sent no result within its schedule: check the instance is running, its SSM agent is online (Fleet Manager) and it still carries the fleet tag.',
  'run.timeout': 'Look for a hung docker daemon (`docker ps` hangs?) or a probe target that never answers.',
  'run.output': 'Open the command output; the script may have been killed or the host may lack bash.',
  'run.exit': 'Open the command output for the error; run the preflight runbook on the host.',
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
  'backup.archive': 'Read the error in the command output: free space in the scratch directory, a database that refuses the snapshot, or a volume that vanished. Fix it, then run backup-now.',
  'backup.complete': 'No manifest was written, so this run cannot be restored from. Read the output for where it stopped, then run backup-now; earlier verified backups are untouched.',
  'backup.verify': 'The copy in S3 does not match what the host wrote. Run backup-now for a fresh copy; check the bucket for lifecycle rules or other writers under backups/.',
  'backup.size': 'Compare the archive with the last ones: was data deleted, a path excluded, or the database vacuumed? If the drop is expected, nothing to do; it stops alerting after a few backups.',
  'backup.restart': 'Start the container now (`docker compose up -d <service>`) and read its logs: it was stopped for the backup.',
  'backup.run': 'Read the error in the command output, fix it, then run backup-now.',
  'drill.archive': 'The newest backup did not restore in scratch space: keep the earlier verified backups (do not delete them), run backup-now, then drill-now to confirm. Production was not touched.',
  'drill.run': 'The drill could not run: read the output (scratch space, tools, access to the bucket). Production was not touched; fix it and run drill-now.',
  'restore.result': 'The restore was rolled back or did not start: the service runs on its previous data. Read the output before trying again.',
  'restore.rollback': 'The restore AND its rollback failed: the service may be down with partial data. Work on the host now: the pre-restore copy is named in the output.',
  'restore.aside': 'The restore succeeded; the copy of the data from before it (named in the message) could not be removed. Delete it once the restored data is confirmed, to free the disk.',
  'restore.restart': 'Start the container (`docker compose up -d <service>`) and read its logs: it did not come back after the restore.',
  'integrity.sqlite': 'Stop writes to the database, take a copy, and run `sqlite3 <db> "PRAGMA integrity_check"`; restore from the last verified backup if it is corrupt.',
  'integrity.cert': 'Renew the certificate (e.g. `certbot renew`) and reload the service that serves it.',
  'integrity.cert-name': 'Reissue the certificate with the expected name in its SAN list.',
  'integrity.connect': 'Check the dependency named in the message answers from the host (`docker exec <container> ...`), then the service logs.',
  'integrity.file': 'Compare the file with the expected one: someone may have changed or removed it. Restore it from the deploy or the last backup.',
  'integrity.logsize': 'Rotate or truncate the log file and configure log rotation for it.',
  'integrity.run': 'Read the output for what could not be checked (missing tool, permission).',
  'maintenance.sqlite': 'Maintenance failed after a verified backup was taken: read the output; the database is as before unless it says otherwise.',
  'maintenance.prune': 'Run `docker system prune` by hand and read the error.',
  'maintenance.run': 'Read the output for why maintenance stopped; nothing destructive ran without a verified backup first.',
  'remediation.exhausted': 'shipshape stopped restarting this service: read `docker logs --tail 200 <container>` for why it keeps failing, fix it, then restart-service.',
  'remediation.restart': 'Nothing to do unless it keeps happening; the restart is in the run history (last-runs).',
  'secret.apply': 'The host did not take the new secret value: read the output; the previous value is still in place. Run rotate-secret-now again or rollback-secret.',
  'restart.service': 'Read the service logs; the restart did not bring it back healthy.',
  missed: 'The run never arrived: check the schedule, the dispatcher function and the dead-letter queue, then run it by hand.',
  'run.no-targets': 'The schedule fired but no host matched: check the hosts carry the fleet tag and the stack\'s host selector, and that their SSM agents are online.',
  'backup.age': 'Read the last backup alerts of this stack (last-runs), fix what failed, then run backup-now; until then there is no recent restore point.',
  'secret.age': 'Rotations of this secret are failing or stuck: read the rotation alerts and the rotation function\'s log, then run rotate-secret-now.',
};

const FAMILY_STEPS: Record<string, string> = {
  backup: NEXT_STEPS['backup.run']!,
  drill: NEXT_STEPS['drill.run']!,
  restore: NEXT_STEPS['restore.result']!,
  integrity: NEXT_STEPS['integrity.run']!,
  maintenance: NEXT_STEPS['maintenance.run']!,
  remediation: NEXT_STEPS['remediation.exhausted']!,
  secret: NEXT_STEPS['secret.apply']!,
  watchdog: 'No results arrive from this stack: check its hosts carry the fleet tag and are online, and the schedule and dispatcher work.',
};

export function nextStep(check: string): string {
  if (NEXT_STEPS[check]) return NEXT_STEPS[check];
  if (check.endsWith('.missed') || check.startsWith('missed')) return NEXT_STEPS.missed!;
  if (/no-?hosts?/.test(check)) return 'No host matched this stack: check the hosts carry the fleet tag and the stack\'s host selector.';
  return FAMILY_STEPS[check.split('.')[0]!] ?? 'Open the run output in the console for details.';
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
  /** IANA zone for times in the text; the JSON body keeps UTC. @default 'UTC' */
  readonly timezone?: string;
  /** For RESOLVED without a time of their own. @default Date.now() */
  readonly now?: number;
}

export function runbookLink(region: string, documentName: string): string {
  return `https://${region}.console.aws.amazon.com/systems-manager/automation/execute/${encodeURIComponent(documentName)}?region=${region}`;
}

/** The console runbooks that help with these checks, most specific first. Never a restore for a drill. */
function actionsFor(checks: readonly string[], ctx: AlertContext, resolved: boolean): string[] {
  const rb = ctx.runbooks ?? {};
  const out: [string, string | undefined][] = [];
  if (!resolved) {
    if (checks.some((c) => c.startsWith('container.') || c.startsWith('probe.') || c === 'remediation.exhausted' || c === 'backup.restart' || c === 'restore.restart')) out.push(['Restart the service', rb['restart-service']]);
    if (checks.some((c) => c.startsWith('backup.') || c.startsWith('drill.'))) out.push(['Back up now', rb['backup-now']]);
    if (checks.some((c) => c.startsWith('drill.'))) out.push(['Drill again', rb['drill-now']]);
    if (checks.some((c) => c === 'integrity.sqlite')) out.push(['Restore the last verified backup (only if the database is corrupt)', rb.restore]);
    if (checks.some((c) => c.startsWith('host.') || c.startsWith('container.') || c.startsWith('probe.'))) out.push(['Check again now', rb['health-check-now']]);
    if (checks.some((c) => c.startsWith('secret.'))) out.push(['Roll the secret back', rb['rollback-secret']]);
    out.push(['Acknowledge (stops reminders and escalation)', rb.acknowledge]);
    out.push(['Silence it for a while', rb.silence]);
  }
  return out.filter(([, doc]) => doc).map(([label, doc]) => `${label}: ${runbookLink(ctx.region, doc!)}`);
}

// ---------------------------------------------------------------------------- messages

type Host = OutboxEntry['host'];
type KindGroup = 'alert' | 'escalation' | 'resolved';
const kindGroup = (n: Notice): KindGroup => (n.kind === 'firing' || n.kind === 'repeat' ? 'alert' : n.kind);
const ORDER: Record<string, number> = { 'alert|critical': 0, 'alert|warning': 1, 'escalation|critical': 2, 'escalation|warning': 3, 'resolved|critical': 4, 'resolved|warning': 5 };

interface Group { readonly group: KindGroup; readonly severity: AlertSeverity; readonly level?: number; readonly entries: OutboxEntry[] }

function label(g: Group): { label: string; attribute: AlertSeverity | 'escalation'; kind: string } {
  if (g.group === 'resolved') return { label: 'RESOLVED', attribute: g.severity, kind: 'resolved' };
  if (g.group === 'escalation') return { label: `ESCALATED${g.level ? ` L${g.level}` : ''}`, attribute: 'escalation', kind: 'escalation' };
  return { label: g.severity.toUpperCase(), attribute: g.severity, kind: g.entries.some((e) => e.notice.kind === 'firing') ? 'firing' : 'repeat' };
}

const hostName = (h: Host) => h.hostname ?? h.instanceId;
/** What failed: for a RESOLVED, the finding as it was while failing. */
const failed = (n: Notice): Finding => (n.kind === 'resolved' ? { ...n.finding, observed: n.state.lastObserved ?? n.finding.observed } : n.finding);
const downFor = (e: OutboxEntry, ctx: AlertContext) => (e.notice.state.since === null ? null : (e.notice.at ?? ctx.now ?? Date.now()) - e.notice.state.since);

function findingLines(e: OutboxEntry, resolved: boolean, ctx: AlertContext, withHost: boolean, maxChars: number): string[] {
  const { finding: f, state, severity } = e.notice;
  const tz = ctx.timezone ?? 'UTC';
  const since = state.since === null ? '?' : localTime(state.since, tz);
  const down = downFor(e, ctx);
  return [
    `${(resolved ? 'OK' : severity.toUpperCase()).padEnd(8)} ${headline(failed(e.notice), e.host)}${withHost ? `  on ${hostName(e.host)}` : ''}   [${f.check}]`,
    `         ${clip(humanText(f.message), maxChars)}`,
    `         observed: ${clip(humanValue(f.check, f.observed), maxChars)}   expected: ${clip(humanValue(f.check, f.threshold), 200)}`,
    resolved
      ? `         down ${down === null ? '?' : humanDuration(down)}, from ${since} to ${e.notice.at ? clock(e.notice.at, tz) : '?'}, ${state.runs} failing run(s)`
      : `         failing since ${since}${down !== null && down >= 60_000 ? ` (${humanDuration(down)})` : ''}, ${state.runs} run(s)${e.notice.state.acknowledgedUntil ? ', acknowledged' : ''}`,
    ...(resolved ? [] : [`         next: ${nextStep(f.check)}`]),
    '',
  ];
}

interface Draft {
  readonly g: Group;
  readonly subject: string;
  readonly sms: string;
  readonly intro: string[];
  readonly hosts: Host[];
  readonly withHost: boolean;
  /** Findings written out in the text (all are in the JSON body). @default all */
  readonly textLimit?: number;
}

function fingerprintOf(ctx: AlertContext, e: OutboxEntry): string {
  return fingerprint({ fleet: ctx.fleet, stack: e.host.stack, host: e.host.instanceId, runbook: e.host.runbook, check: e.notice.finding.check, target: e.notice.finding.target });
}

/** Bytes SNS counts against its limit: message, subject and attributes. */
export function publishSize(m: PublishCommandInput): number {
  const attrs = Object.entries(m.MessageAttributes ?? {}).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v.DataType ?? '') + Buffer.byteLength(v.StringValue ?? ''), 0);
  return Buffer.byteLength(m.Message ?? '') + Buffer.byteLength(m.Subject ?? '') + attrs;
}

function render(ctx: AlertContext, d: Draft, shown: number, maxChars: number): PublishCommandInput {
  const { g, hosts } = d;
  const { attribute, kind } = label(g);
  const resolved = g.group === 'resolved';
  const links = hosts.slice(0, 10).map((h) => consoleLink(ctx.region, h.commandId, h.instanceId));
  const first = hosts[0]!;
  const entries = g.entries.slice(0, shown);
  const omitted = g.entries.length - entries.length;
  const actions = actionsFor(g.entries.map((e) => e.notice.finding.check), ctx, resolved);
  const fps = g.entries.map((e) => fingerprintOf(ctx, e));
  const text = [
    ...d.intro, '',
    ...entries.slice(0, d.textLimit ?? entries.length).flatMap((e) => findingLines(e, resolved, ctx, d.withHost, maxChars)),
    ...(omitted ? [`... and ${omitted} more finding(s), left out to keep this message under the SNS size limit: open the command output below.`, ''] : []),
    ...links.map((l, i) => `Command output${hosts.length > 1 ? ` (${hostName(hosts[i]!)})` : ''}: ${l}`),
    ...(hosts.length > 10 ? [`(and ${hosts.length - 10} more hosts)`] : []),
    ...(actions.length ? ['', 'What you can do:', ...actions.map((a) => `  ${a}`)] : []),
    '', `Alert ID: ${fps.length === 1 ? fps[0] : `${fps[0]} (+${fps.length - 1} more, see the JSON body)`}`,
  ].join('\n');
  const json = {
    version: 2, kind, severity: attribute, ...(g.level ? { level: g.level } : {}), fleet: ctx.fleet, stack: first.stack, runbook: first.runbook, runId: first.runId, commandId: first.commandId,
    subject: d.subject, summary: d.intro[0], timezone: ctx.timezone ?? 'UTC', fingerprint: fps.length === 1 ? fps[0] : `ss-group-${createHash('sha256').update(fps.join(',')).digest('hex').slice(0, 20)}`,
    hosts: hosts.slice(0, 50).map((h) => ({ host: h.instanceId, hostname: h.hostname ?? null })),
    findings: entries.map((e) => {
      const f = e.notice.finding;
      const down = downFor(e, ctx);
      return {
        check: f.check, target: f.target, severity: resolved ? 'ok' : e.notice.severity, headline: headline(failed(e.notice), e.host), message: clip(f.message, maxChars),
        observed: typeof f.observed === 'string' ? clip(f.observed, maxChars) : f.observed, threshold: f.threshold,
        host: e.host.instanceId, hostname: e.host.hostname ?? null, fingerprint: fingerprintOf(ctx, e),
        since: iso(e.notice.state.since), runs: e.notice.state.runs, ...(resolved ? { resolvedAt: iso(e.notice.at), downForSeconds: down === null ? null : Math.round(down / 1000) } : { nextStep: nextStep(f.check) }),
      };
    }),
    omitted, links, actions,
  };
  return snsMessage({
    topicArn: ctx.topicArn, subject: clip(d.subject, SUBJECT_LIMIT), text, json, sms: clip(d.sms, SMS_LIMIT),
    attributes: { severity: attribute, kind, fleet: ctx.fleet, stack: first.stack, runbook: first.runbook, ...(g.level ? { level: String(g.level) } : {}) },
  });
}

/** Renders a draft, leaving findings out (and clipping long texts) until it fits the budget. */
function fit(ctx: AlertContext, d: Draft, budget = MESSAGE_BUDGET): PublishCommandInput {
  let shown = d.g.entries.length;
  let maxChars = 2_000;
  for (;;) {
    const m = render(ctx, d, shown, maxChars);
    if (publishSize(m) <= budget || (shown <= 1 && maxChars <= 200)) return m;
    if (shown > 1) shown = Math.max(1, Math.floor(shown / 2));
    else maxChars = Math.max(200, Math.floor(maxChars / 2));
  }
}

const distinctHosts = (entries: OutboxEntry[]): Host[] =>
  [...new Map(entries.map((e) => [e.host.instanceId, e.host])).values()].sort((a, b) => a.instanceId.localeCompare(b.instanceId));

const RANK: Record<AlertSeverity, number> = { critical: 0, warning: 1 };
/** Worst first, then the longest-failing, then in the order the evaluator reported them (a stable sort). */
const byImportance = (a: OutboxEntry, b: OutboxEntry) =>
  RANK[a.notice.severity] - RANK[b.notice.severity] || (a.notice.state.since ?? 0) - (b.notice.state.since ?? 0);

function smsFor(l: string, where: string, e0: OutboxEntry, more: number, resolved: boolean, ctx: AlertContext): string {
  const tz = ctx.timezone ?? 'UTC';
  const down = downFor(e0, ctx);
  const tail = resolved
    ? (down !== null ? ` - down ${humanDuration(down)}` : '')
    : e0.notice.state.since !== null ? ` since ${clock(e0.notice.state.since, tz)}` : '';
  return fitLine(`${l} ${where}: `, headline(failed(e0.notice), e0.host, true), `${more ? ` (+${more} more)` : ''}${tail}`, SMS_LIMIT);
}

/**
 * Messages for the notices of one command. The same finding on several hosts becomes one
 * message that names the hosts; what remains goes out per host. Within each, one message per
 * kind (alert, escalation level, resolved) and severity.
 */
export function buildAlerts(entries: readonly OutboxEntry[], ctx: AlertContext): PublishCommandInput[] {
  return buildAlertGroups(entries, ctx).map((g) => g.message);
}

/** The messages with the entries each one carries, so a caller that fails half-way can park only what was not sent. */
export function buildAlertGroups(entries: readonly OutboxEntry[], ctx: AlertContext): { message: PublishCommandInput; entries: OutboxEntry[] }[] {
  const out: { order: number; msg: PublishCommandInput; entries: OutboxEntry[] }[] = [];
  const same = new Map<string, OutboxEntry[]>();
  for (const e of entries) {
    const k = [e.host.stack, kindGroup(e.notice), e.notice.level ?? 0, e.notice.severity, e.host.runbook, e.notice.finding.check, e.notice.finding.target].join('|');
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
    const g: Group = { group: kindGroup(e0.notice), severity: e0.notice.severity, ...(e0.notice.level ? { level: e0.notice.level } : {}), entries: group };
    const { label: l } = label(g);
    const resolved = g.group === 'resolved';
    const where = `${ctx.fleet}/${e0.host.stack} ${hosts.length} hosts`;
    const what = headline(failed(e0.notice), e0.host);
    const subject = fitLine(`[${l}] ${where}: `, headline(failed(e0.notice), e0.host, true), resolved && downFor(e0, ctx) !== null ? `, down ${humanDuration(downFor(e0, ctx)!)}` : '', SUBJECT_LIMIT);
    const shownHosts = hosts.slice(0, 50).map((h) => `  ${hostName(h)}${h.hostname ? ` (${h.instanceId})` : ''}`);
    const intro = [
      `${l}: ${what} ${resolved ? 'is fixed' : ''} on ${hosts.length} hosts of ${ctx.fleet}/${e0.host.stack} (${e0.host.runbook})`.replace('  ', ' '),
      '', `Fleet: ${ctx.fleet}   Stack: ${e0.host.stack}   Run: ${e0.host.runId}`, '', 'Hosts:', ...shownHosts,
      ...(hosts.length > 50 ? [`  and ${hosts.length - 50} more`] : []),
    ];
    const draft: Draft = { g, subject, sms: smsFor(l, where, e0, 0, resolved, ctx), intro, hosts, withHost: false, textLimit: 1 };
    out.push({ order: ORDER[`${g.group}|${g.severity}`] ?? 9, msg: fit(ctx, draft), entries: group });
  }
  const perHost = new Map<string, OutboxEntry[]>();
  for (const e of single) {
    const k = [e.host.instanceId, kindGroup(e.notice), e.notice.level ?? 0, e.notice.severity].join('|');
    perHost.set(k, [...(perHost.get(k) ?? []), e]);
  }
  for (const group of perHost.values()) {
    group.sort(byImportance);
    const e0 = group[0]!;
    const g: Group = { group: kindGroup(e0.notice), severity: e0.notice.severity, ...(e0.notice.level ? { level: e0.notice.level } : {}), entries: group };
    const h = e0.host;
    const resolved = g.group === 'resolved';
    const { label: l, kind } = label(g);
    const more = group.length - 1;
    const where = `${ctx.fleet}/${h.stack} ${hostName(h)}`;
    const down = downFor(e0, ctx);
    const subject = fitLine(`[${l}] ${where}: `, headline(failed(e0.notice), e0.host, true), `${more ? ` (+${more} more)` : ''}${resolved && down !== null ? `, down ${humanDuration(down)}` : ''}`, SUBJECT_LIMIT);
    const state = resolved ? `fixed after ${down === null ? '?' : humanDuration(down)}` : kind === 'repeat' ? 'still failing' : g.group === 'escalation' ? 'still failing, escalated' : 'failing';
    const intro = [
      `${l}: ${headline(failed(e0.notice), e0.host)}${more ? ` and ${more} more` : ''} on ${hostName(h)}: ${state}`,
      '', `Fleet: ${ctx.fleet}   Stack: ${h.stack}   Host: ${hostName(h)}${h.hostname ? ` (${h.instanceId})` : ''}`,
      `Runbook: ${h.runbook}   Run: ${h.runId}   SSM status: ${h.status}`,
    ];
    const draft: Draft = { g, subject, sms: smsFor(l, where, e0, more, resolved, ctx), intro, hosts: [h], withHost: false };
    out.push({ order: ORDER[`${g.group}|${g.severity}`] ?? 9, msg: fit(ctx, draft), entries: group });
  }
  return out.sort((a, b) => a.order - b.order).map((o) => ({ message: o.msg, entries: o.entries }));
}

export async function publishAlert(sns: Pick<SNSClient, 'send'>, alert: PublishCommandInput): Promise<string | undefined> {
  const out = await sns.send(new PublishCommand(alert));
  return out.MessageId;
}
