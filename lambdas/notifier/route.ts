/**
 * The notifier's core: which chat and pager receivers of the fleet get an alert, their
 * requests, and delivery once per receiver per SNS message (a retried invocation skips the
 * receivers that already have it).
 */
import type { Fleet } from '../../lib/config/schema.js';
import { channelOf, type Channel, type ChatChannel } from '../../lib/config/schema.js';
import type { Alert } from './alert.js';
import { deliver, DeliveryError, type DeliverOptions, type SecretCache } from './deliver.js';
import { OPSGENIE_URLS, opsgenieRequests, PAGERDUTY_URL, pagerdutyEvents, slackPayload, teamsPayload, type HttpRequest } from './payloads.js';

export interface Receiver {
  /** Stable within a config: "recipients[2]" or "escalation[1].recipients[0]". */
  readonly id: string;
  readonly channel: ChatChannel;
  readonly secretArn: string;
  readonly opsgenieRegion?: 'us' | 'eu';
  readonly severities: readonly string[];
  /** Escalation levels (1-based) this receiver belongs to. */
  readonly levels: readonly number[];
}

const CHAT = new Set(['slack', 'teams', 'pagerduty', 'opsgenie']);

function receiver(id: string, r: Channel, severities: readonly string[], levels: number[]): Receiver | undefined {
  const channel = channelOf(r);
  if (!CHAT.has(channel)) return undefined;
  const ref = r[channel as ChatChannel]!;
  return { id, channel: channel as ChatChannel, secretArn: ref.secretArn, ...(channel === 'opsgenie' ? { opsgenieRegion: r.opsgenie!.region } : {}), severities, levels };
}

/** The fleet's chat and pager receivers, from alerts.recipients and the escalation levels. */
export function receiversOf(fleet: Fleet): Receiver[] {
  const out: Receiver[] = [];
  fleet.alerts.recipients.forEach((r, i) => {
    const x = receiver(`recipients[${i}]`, r, r.severities, []);
    if (x) out.push(x);
  });
  (fleet.alerts.escalation ?? []).forEach((level, l) => level.recipients.forEach((r, j) => {
    const x = receiver(`escalation[${l}].recipients[${j}]`, r, [], [l + 1]);
    if (x) out.push(x);
  }));
  return out;
}

/** Mirrors the SNS filter policies: severities for alerts, the level for escalations (tests alike). */
export function wants(r: Receiver, a: Alert): boolean {
  if (a.kind === 'escalation') return a.level !== null && r.levels.includes(a.level);
  return r.severities.includes(a.severity);
}

/** Secret values may be the bare URL or key, or JSON with url / routingKey / apiKey. */
export function secretField(value: string, channel: ChatChannel): string {
  if (!value.startsWith('{')) return value;
  try {
    const o = JSON.parse(value) as Record<string, unknown>;
    const v = channel === 'pagerduty' ? o.routingKey ?? o.routing_key ?? o.integrationKey : channel === 'opsgenie' ? o.apiKey ?? o.key : o.url ?? o.webhookUrl;
    if (typeof v === 'string' && v) return v;
  } catch {
    // not JSON after all
  }
  throw new DeliveryError(`the secret of this ${channel} receiver holds JSON without the expected field`, null, false);
}

export interface Endpoints {
  readonly pagerduty?: string;
  readonly opsgenie?: Readonly<Record<'us' | 'eu', string>>;
  /** Only tests set this, for a local server. @default true */
  readonly requireHttps?: boolean;
}

export async function requestsFor(r: Receiver, a: Alert, secrets: Pick<SecretCache, 'get'>, endpoints: Endpoints = {}): Promise<HttpRequest[]> {
  const value = secretField(await secrets.get(r.secretArn), r.channel);
  const json = { 'content-type': 'application/json' };
  if (r.channel === 'slack' || r.channel === 'teams') {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new DeliveryError(`the secret of this ${r.channel} receiver is not a URL`, null, false);
    }
    if (url.protocol !== 'https:' && endpoints.requireHttps !== false) throw new DeliveryError(`the ${r.channel} webhook must be an https URL`, null, false);
    return [{ method: 'POST', url: value, headers: json, body: r.channel === 'slack' ? slackPayload(a) : teamsPayload(a) }];
  }
  if (r.channel === 'pagerduty') return pagerdutyEvents(a, value, endpoints.pagerduty ?? PAGERDUTY_URL);
  return opsgenieRequests(a, value, (endpoints.opsgenie ?? OPSGENIE_URLS)[r.opsgenieRegion ?? 'us']);
}

/** Which (message, receiver) pairs were delivered already, so a retry sends only the rest. */
export interface DeliveryLog {
  delivered(messageId: string, receiverId: string): Promise<boolean>;
  markDelivered(messageId: string, receiverId: string): Promise<void>;
}

export class MemoryDeliveryLog implements DeliveryLog {
  readonly done = new Set<string>();
  async delivered(m: string, r: string) {
    return this.done.has(`${m}#${r}`);
  }
  async markDelivered(m: string, r: string) {
    this.done.add(`${m}#${r}`);
  }
}

export interface NotifyDeps {
  readonly receivers: readonly Receiver[];
  readonly secrets: Pick<SecretCache, 'get'>;
  readonly log: DeliveryLog;
  readonly endpoints?: Endpoints;
  readonly deliverOptions?: DeliverOptions;
}

export interface NotifyOutcome {
  readonly sent: { receiver: string; channel: ChatChannel; requests: number }[];
  readonly skipped: string[];
  readonly failed: { receiver: string; channel: ChatChannel; error: string; retryable: boolean }[];
}

/** Delivers one alert (one SNS message) to every receiver that wants it. Never throws; the caller decides. */
export async function notify(messageId: string, a: Alert, deps: NotifyDeps): Promise<NotifyOutcome> {
  const out: NotifyOutcome = { sent: [], skipped: [], failed: [] };
  for (const r of deps.receivers.filter((x) => wants(x, a))) {
    if (await deps.log.delivered(messageId, r.id)) {
      out.skipped.push(r.id);
      continue;
    }
    try {
      const reqs = await requestsFor(r, a, deps.secrets, deps.endpoints);
      for (const req of reqs) await deliver(req, deps.deliverOptions);
      await deps.log.markDelivered(messageId, r.id);
      out.sent.push({ receiver: r.id, channel: r.channel, requests: reqs.length });
    } catch (err) {
      out.failed.push({ receiver: r.id, channel: r.channel, error: (err as Error).message, retryable: err instanceof DeliveryError ? err.retryable : true });
    }
  }
  return out;
}
