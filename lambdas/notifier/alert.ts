/**
 * What the notifier reads from an SNS record: shipshape's own JSON body (host alerts, alarm
 * messages, test alerts), or a CloudWatch alarm notification published by an alarm action
 * straight to the topic. Both become one Alert.
 */
import { createHash } from 'node:crypto';
import * as z from 'zod';

export interface AlertItem {
  readonly fingerprint: string;
  readonly headline: string;
  readonly message: string;
  readonly host: string | null;
  readonly check: string | null;
  readonly since: string | null;
}

export interface Alert {
  readonly kind: 'firing' | 'repeat' | 'escalation' | 'resolved';
  /** From the send-test-alert runbook: delivered like the real thing, then closed at once by pagers. */
  readonly test: boolean;
  /** critical or warning; escalations carry the severity they escalate. */
  readonly severity: 'critical' | 'warning' | 'info';
  readonly level: number | null;
  readonly subject: string;
  readonly summary: string;
  readonly fleet: string;
  readonly stack: string | null;
  readonly fingerprint: string;
  readonly items: readonly AlertItem[];
  readonly links: readonly string[];
  readonly nextStep: string | null;
  readonly timestamp: string;
}

const ShipshapeBody = z.looseObject({
  kind: z.string(),
  severity: z.string(),
  level: z.number().int().optional(),
  fleet: z.string(),
  stack: z.string().optional(),
  subject: z.string().optional(),
  summary: z.string().optional(),
  fingerprint: z.string().optional(),
  alarm: z.string().optional(),
  reason: z.string().nullable().optional(),
  link: z.string().optional(),
  links: z.array(z.string()).optional(),
  findings: z.array(z.looseObject({
    check: z.string(), target: z.string(), severity: z.string(), message: z.string(), headline: z.string().optional(),
    host: z.string().optional(), hostname: z.string().nullable().optional(), fingerprint: z.string().optional(), since: z.string().nullable().optional(), nextStep: z.string().optional(),
  })).optional(),
});

const CloudWatchAlarm = z.looseObject({
  AlarmName: z.string(),
  AlarmDescription: z.string().nullable().optional(),
  NewStateValue: z.enum(['OK', 'ALARM', 'INSUFFICIENT_DATA']),
  OldStateValue: z.string().optional(),
  NewStateReason: z.string().optional(),
  StateChangeTime: z.string().optional(),
  Region: z.string().optional(),
  AlarmArn: z.string().optional(),
});

const hash = (s: string) => `ss-${createHash('sha256').update(s).digest('hex').slice(0, 24)}`;
const KINDS = new Set(['firing', 'repeat', 'escalation', 'resolved', 'test']);

/** The SNS record's subject and message as an Alert, or undefined for something else. */
export function parseAlert(message: string, subject: string | undefined, attributes: Readonly<Record<string, string>>, now: Date): Alert | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(message);
  } catch {
    return undefined;
  }
  const cw = CloudWatchAlarm.safeParse(doc);
  if (cw.success) {
    const a = cw.data;
    if (a.NewStateValue === 'INSUFFICIENT_DATA' || (a.NewStateValue === 'OK' && a.OldStateValue !== 'ALARM')) return undefined;
    const firing = a.NewStateValue === 'ALARM';
    const fp = hash(`alarm\u0000${a.AlarmArn ?? a.AlarmName}`);
    const fleet = /^shipshape-([a-z0-9-]+?)-/.exec(a.AlarmName)?.[1] ?? 'shipshape';
    const region = a.Region && /^[a-z]{2}(-[a-z]+)+-\d$/.test(a.Region) ? a.Region : undefined;
    const arnRegion = a.AlarmArn?.split(':')[3];
    const r = region ?? arnRegion ?? 'us-east-1';
    return {
      kind: firing ? 'firing' : 'resolved', test: false, severity: 'critical', level: null,
      subject: `[${firing ? 'CRITICAL' : 'RESOLVED'}] ${a.AlarmName}`.slice(0, 150),
      summary: a.AlarmDescription ?? a.NewStateReason ?? a.AlarmName,
      fleet, stack: null, fingerprint: fp,
      items: [{ fingerprint: fp, headline: a.AlarmName, message: a.NewStateReason ?? '', host: null, check: 'alarm', since: a.StateChangeTime ?? null }],
      links: [`https://${r}.console.aws.amazon.com/cloudwatch/home?region=${r}#alarmsV2:alarm/${encodeURIComponent(a.AlarmName)}`],
      nextStep: a.AlarmDescription ?? null, timestamp: now.toISOString(),
    };
  }
  const body = ShipshapeBody.safeParse(doc);
  if (!body.success || !KINDS.has(body.data.kind)) return undefined;
  const b = body.data;
  const level = b.level ?? (attributes.level ? Number(attributes.level) : null);
  const findings = b.findings ?? [];
  // An escalation's severity attribute is "escalation"; what it escalates is in its findings.
  const sev = b.severity === 'escalation' ? (findings.some((f) => f.severity === 'warning') && !findings.some((f) => f.severity === 'critical') ? 'warning' : 'critical') : b.severity;
  const severity = sev === 'critical' || sev === 'warning' ? sev : 'info';
  const subj = b.subject ?? subject ?? `${b.kind} ${b.fleet}`;
  const fp = b.fingerprint ?? hash(`${b.fleet}\u0000${b.alarm ?? subj}`);
  const items: AlertItem[] = findings.length
    ? findings.map((f) => ({
        fingerprint: f.fingerprint ?? hash(`${b.fleet}\u0000${b.stack ?? ''}\u0000${f.host ?? ''}\u0000${f.check}\u0000${f.target}`),
        headline: f.headline ?? `${f.target} ${f.check}`, message: f.message, host: f.hostname ?? f.host ?? null, check: f.check, since: f.since ?? null,
      }))
    : [{ fingerprint: fp, headline: b.alarm ?? subj, message: b.reason ?? b.summary ?? '', host: null, check: b.alarm ? 'alarm' : null, since: null }];
  const test = b.kind === 'test';
  const kind = b.severity === 'escalation' ? 'escalation' : test ? 'firing' : (b.kind as Alert['kind']);
  return {
    kind, test, severity, level, subject: subj, summary: b.summary ?? subj, fleet: b.fleet, stack: b.stack ?? null, fingerprint: fp, items,
    links: b.links ?? (b.link ? [b.link] : []), nextStep: findings.find((f) => f.nextStep)?.nextStep ?? null, timestamp: now.toISOString(),
  };
}
