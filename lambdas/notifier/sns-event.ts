/** An SNS event for the notifier: each record parsed into an Alert and delivered. */
import * as z from 'zod';
import { parseOrThrow } from '../shared/errors.js';
import { parseAlert } from './alert.js';
import { notify, type NotifyDeps, type NotifyOutcome } from './route.js';

export const SnsEvent = z.object({
  Records: z.array(z.object({
    Sns: z.object({
      MessageId: z.string().min(1).max(100),
      Subject: z.string().nullable().optional(),
      Message: z.string(),
      MessageAttributes: z.record(z.string(), z.object({ Type: z.string().optional(), Value: z.string() })).optional(),
    }),
  })).min(1),
});

export async function handleSnsEvent(event: unknown, deps: NotifyDeps, now: () => Date = () => new Date()): Promise<NotifyOutcome & { ignored: number }> {
  const { Records } = parseOrThrow(SnsEvent, event, 'SNS event');
  const all: NotifyOutcome & { ignored: number } = { sent: [], skipped: [], failed: [], ignored: 0 };
  for (const { Sns: m } of Records) {
    const attributes = Object.fromEntries(Object.entries(m.MessageAttributes ?? {}).map(([k, v]) => [k, v.Value]));
    const alert = parseAlert(m.Message, m.Subject ?? undefined, attributes, now());
    if (!alert) {
      all.ignored++;
      continue;
    }
    const r = await notify(m.MessageId, alert, deps);
    all.sent.push(...r.sent);
    all.skipped.push(...r.skipped);
    all.failed.push(...r.failed);
  }
  return all;
}
