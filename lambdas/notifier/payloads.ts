/**
 * Each vendor's documented request for one alert. Pure: the transport (retries, secrets)
 * lives in deliver.ts.
 * - Slack incoming webhook: `text` (fallback and notifications) and Block Kit `blocks`.
 * - Microsoft Teams: an Adaptive Card in a `message` attachment, which both Workflows
 *   (Power Automate, *.logic.azure.com) and incoming webhooks (*.webhook.office.com) take.
 * - PagerDuty Events API v2: one event per alert fingerprint (`dedup_key`), `trigger` while
 *   failing and `resolve` on RESOLVED, so the incident follows shipshape's state.
 * - Opsgenie Alert API: create with `alias` = fingerprint; close by alias on RESOLVED.
 */
import type { Alert } from './alert.js';

export interface HttpRequest {
  readonly method: 'POST';
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: unknown;
}

const cut = (s: string, max: number) => (s.length > max ? `${s.slice(0, max - 1)}…` : s);
const EMOJI: Record<string, string> = { critical: ':red_circle:', warning: ':large_orange_circle:', info: ':information_source:' };
const label = (a: Alert) => `${a.test ? 'TEST ' : ''}${a.kind === 'resolved' ? 'RESOLVED' : a.kind === 'escalation' ? `ESCALATED${a.level ? ` L${a.level}` : ''}` : a.severity.toUpperCase()}`;
/** Items shown in chat; the rest are counted. */
const CHAT_ITEMS = 10;

export function slackPayload(a: Alert): Record<string, unknown> {
  const icon = a.kind === 'resolved' ? ':large_green_circle:' : EMOJI[a.severity] ?? '';
  const lines = a.items.slice(0, CHAT_ITEMS).map((i) => `• *${i.headline}*${i.host ? ` on \`${i.host}\`` : ''}${i.message ? `\n   ${i.message}` : ''}`);
  if (a.items.length > CHAT_ITEMS) lines.push(`…and ${a.items.length - CHAT_ITEMS} more`);
  const blocks: Record<string, unknown>[] = [
    { type: 'header', text: { type: 'plain_text', text: cut(`${a.subject}`, 150), emoji: true } },
    { type: 'section', text: { type: 'mrkdwn', text: cut(`${icon} ${a.summary}\n${lines.join('\n')}`, 3000) } },
  ];
  if (a.nextStep && a.kind !== 'resolved') blocks.push({ type: 'section', text: { type: 'mrkdwn', text: cut(`*Next step:* ${a.nextStep}`, 3000) } });
  if (a.links.length) {
    blocks.push({ type: 'actions', elements: a.links.slice(0, 5).map((url, i) => ({ type: 'button', text: { type: 'plain_text', text: i === 0 ? 'Command output' : `Output ${i + 1}` }, url })) });
  }
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `shipshape ${a.fleet}${a.stack ? `/${a.stack}` : ''} · alert ${a.fingerprint}` }] });
  return { text: cut(`${label(a)}: ${a.subject}`, 3000), blocks };
}

export function teamsPayload(a: Alert): Record<string, unknown> {
  const color = a.kind === 'resolved' ? 'Good' : a.severity === 'critical' ? 'Attention' : a.severity === 'warning' ? 'Warning' : 'Default';
  const body: Record<string, unknown>[] = [
    { type: 'TextBlock', text: cut(a.subject, 400), weight: 'Bolder', size: 'Medium', color, wrap: true },
    { type: 'TextBlock', text: cut(a.summary, 2000), wrap: true },
    { type: 'FactSet', facts: a.items.slice(0, CHAT_ITEMS).map((i) => ({ title: cut(i.host ?? a.fleet, 100), value: cut(`${i.headline}${i.message ? `: ${i.message}` : ''}`, 500) })) },
  ];
  if (a.items.length > CHAT_ITEMS) body.push({ type: 'TextBlock', text: `…and ${a.items.length - CHAT_ITEMS} more`, isSubtle: true });
  if (a.nextStep && a.kind !== 'resolved') body.push({ type: 'TextBlock', text: cut(`Next step: ${a.nextStep}`, 2000), wrap: true });
  body.push({ type: 'TextBlock', text: `shipshape ${a.fleet}${a.stack ? `/${a.stack}` : ''} · alert ${a.fingerprint}`, isSubtle: true, size: 'Small' });
  return {
    type: 'message',
    summary: cut(a.subject, 200),
    attachments: [{
      contentType: 'application/vnd.microsoft.card.adaptive',
      contentUrl: null,
      content: {
        $schema: 'http://adaptivecards.io/schemas/adaptive-card.json', type: 'AdaptiveCard', version: '1.4', body,
        actions: a.links.slice(0, 3).map((url, i) => ({ type: 'Action.OpenUrl', title: i === 0 ? 'Command output' : `Output ${i + 1}`, url })),
      },
    }],
  };
}

export const PAGERDUTY_URL = 'https://events.pagerduty.com/v2/enqueue';
/** Events per message at most: one per alert, the first ones. */
export const PAGER_EVENTS = 20;

/** Trigger (or resolve) per alert; a test alert is resolved right after its trigger, so it leaves no incident open. */
export function pagerdutyEvents(a: Alert, routingKey: string, url = PAGERDUTY_URL): HttpRequest[] {
  return a.items.slice(0, PAGER_EVENTS).flatMap((i): HttpRequest[] => {
    const dedup = i.fingerprint;
    const body = a.kind === 'resolved'
      ? { routing_key: routingKey, event_action: 'resolve', dedup_key: dedup }
      : {
          routing_key: routingKey, event_action: 'trigger', dedup_key: dedup,
          payload: {
            summary: cut(`${a.fleet}${a.stack ? `/${a.stack}` : ''}${i.host ? ` ${i.host}` : ''}: ${i.headline}`, 1024),
            source: i.host ?? `${a.fleet}${a.stack ? `/${a.stack}` : ''}`,
            severity: a.severity === 'critical' ? 'critical' : a.severity === 'warning' ? 'warning' : 'info',
            timestamp: a.timestamp,
            component: a.stack ?? undefined,
            group: a.fleet,
            class: i.check ?? undefined,
            custom_details: { message: i.message, since: i.since, kind: a.kind, level: a.level, next_step: a.nextStep, subject: a.subject },
          },
          client: `shipshape ${a.fleet}`,
          ...(a.links[0] ? { client_url: a.links[0], links: a.links.slice(0, 5).map((href) => ({ href, text: 'Command output' })) } : {}),
        };
    const headers = { 'content-type': 'application/json' };
    const trigger: HttpRequest = { method: 'POST', url, headers, body };
    return a.test && a.kind !== 'resolved' ? [trigger, { method: 'POST', url, headers, body: { routing_key: routingKey, event_action: 'resolve', dedup_key: dedup } }] : [trigger];
  });
}

export const OPSGENIE_URLS = { us: 'https://api.opsgenie.com', eu: 'https://api.eu.opsgenie.com' } as const;

export function opsgenieRequests(a: Alert, apiKey: string, base: string): HttpRequest[] {
  const headers = { 'content-type': 'application/json', authorization: `GenieKey ${apiKey}` };
  return a.items.slice(0, PAGER_EVENTS).flatMap((i): HttpRequest[] => {
    const alias = i.fingerprint;
    const close: HttpRequest = { method: 'POST', url: `${base}/v2/alerts/${encodeURIComponent(alias)}/close?identifierType=alias`, headers, body: { source: `shipshape ${a.fleet}`, note: cut(a.subject, 25000) } };
    if (a.kind === 'resolved') return [close];
    const create: HttpRequest = {
      method: 'POST', url: `${base}/v2/alerts`, headers,
      body: {
        message: cut(`${i.host ? `${i.host}: ` : ''}${i.headline}`, 130),
        alias,
        description: cut([a.summary, i.message, a.nextStep ? `Next step: ${a.nextStep}` : '', ...a.links].filter(Boolean).join('\n\n'), 15000),
        priority: a.kind === 'escalation' || a.severity === 'critical' ? 'P1' : a.severity === 'warning' ? 'P3' : 'P5',
        source: `shipshape ${a.fleet}`,
        entity: cut(i.host ?? a.stack ?? a.fleet, 512),
        tags: ['shipshape', a.fleet, ...(a.stack ? [a.stack] : []), a.kind, ...(a.test ? ['test'] : [])].map((t) => cut(t, 50)),
        details: { check: i.check ?? '', since: i.since ?? '', subject: cut(a.subject, 8000), level: a.level === null ? '' : String(a.level) },
      },
    };
    return a.test ? [create, close] : [create];
  });
}
