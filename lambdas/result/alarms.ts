/**
 * CloudWatch alarms of the fleet (missed runs, Lambda errors, DLQ depth) reach people
 * through the same topic as host alerts, with the same `severity` attribute, so the same
 * filter policies route them. An alarm going to OK sends a RESOLVED.
 */
import type { PublishCommandInput } from '@aws-sdk/client-sns';
import * as z from 'zod';
import { snsMessage } from '../shared/sns-message.js';

export const AlarmEvent = z.object({
  source: z.literal('aws.cloudwatch'),
  'detail-type': z.literal('CloudWatch Alarm State Change'),
  region: z.string().optional(),
  detail: z.object({
    alarmName: z.string().max(255),
    state: z.object({ value: z.enum(['OK', 'ALARM', 'INSUFFICIENT_DATA']), reason: z.string().max(2000).optional(), timestamp: z.string().optional() }),
    previousState: z.object({ value: z.enum(['OK', 'ALARM', 'INSUFFICIENT_DATA']) }).optional(),
    configuration: z.object({ description: z.string().max(1024).optional() }).passthrough().optional(),
  }),
});
export type AlarmEvent = z.infer<typeof AlarmEvent>;

const printable = (s: string, max: number) => s.replace(/[^\x20-\x7e]+/g, ' ').slice(0, max);

/** One message for ALARM (critical) and one for a return to OK after ALARM (resolved); nothing otherwise. */
export function alarmMessage(event: AlarmEvent, ctx: { fleet: string; region: string; topicArn: string }): PublishCommandInput | undefined {
  const { alarmName, state, previousState, configuration } = event.detail;
  const firing = state.value === 'ALARM';
  const resolved = state.value === 'OK' && previousState?.value === 'ALARM';
  if (!firing && !resolved) return undefined;
  const name = printable(alarmName, 120);
  const subject = printable(`[${firing ? 'CRITICAL' : 'RESOLVED'}] ${ctx.fleet}: ${name}`, 99);
  const link = `https://${ctx.region}.console.aws.amazon.com/cloudwatch/home?region=${ctx.region}#alarmsV2:alarm/${encodeURIComponent(alarmName)}`;
  const text = [
    `shipshape ${ctx.fleet}: alarm ${name} is ${state.value}`,
    '',
    configuration?.description ? `What it means: ${printable(configuration.description, 1000)}` : '',
    state.reason ? `Why: ${printable(state.reason, 1000)}` : '',
    '',
    `Alarm: ${link}`,
  ].filter((l, i, all) => l !== '' || all[i - 1] !== '').join('\n');
  const json = { kind: firing ? 'firing' : 'resolved', severity: 'critical', fleet: ctx.fleet, alarm: name, state: state.value, reason: state.reason ?? null, link };
  return snsMessage({ topicArn: ctx.topicArn, subject, text, json, attributes: { severity: 'critical', kind: firing ? 'firing' : 'resolved', fleet: ctx.fleet } });
}
