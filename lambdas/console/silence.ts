/**
 * Console requests that change alerting: a one-off silence for a stack, host or check,
 * set for N hours from the "silence" runbook.
 */
import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import { SILENCE_CHECK, SILENCE_HOST, SILENCE_HOURS, SILENCE_REASON } from '../../lib/config/patterns.js';
import type { Fleet } from '../../lib/config/schema.js';
import type { Silence } from '../result/silences.js';
import type { StateStore } from '../result/state-store.js';
import { InputError, parseOrThrow } from '../shared/errors.js';


export const SilenceRequest = z.strictObject({
  action: z.literal('silence'),
  stack: z.string(),
  host: z.string().regex(SILENCE_HOST),
  check: z.string().regex(SILENCE_CHECK),
  hours: z.string().regex(SILENCE_HOURS).transform(Number),
  reason: z.string().regex(SILENCE_REASON),
});

export async function silence(store: StateStore, fleet: Fleet, event: unknown, now: number, id: () => string = randomUUID): Promise<Silence> {
  const req = parseOrThrow(SilenceRequest, event, 'silence request');
  if (req.stack !== '*' && !fleet.stacks.some((s) => s.name === req.stack)) throw new InputError(`unknown stack "${req.stack}"`);
  const s: Silence = {
    id: id(),
    until: now + req.hours * 3_600_000,
    ...(req.stack !== '*' ? { stack: req.stack } : {}),
    ...(req.host !== '*' ? { host: req.host } : {}),
    ...(req.check !== '*' ? { check: req.check } : {}),
    reason: req.reason,
  };
  await store.putSilence(s);
  return s;
}

export const LastRunsRequest = z.strictObject({
  action: z.literal('last-runs'),
  stack: z.string(),
  count: z.string().regex(/^([1-9]|[1-4][0-9]|50)$/).transform(Number),
});

/** The "last runs" view: one line a run, newest first, readable in the Automation output. */
export async function lastRuns(store: StateStore, fleet: Fleet, event: unknown): Promise<string[]> {
  const req = parseOrThrow(LastRunsRequest, event, 'last-runs request');
  if (!fleet.stacks.some((s) => s.name === req.stack)) throw new InputError(`unknown stack "${req.stack}"`);
  const runs = await store.recentRuns(req.stack, req.count);
  if (runs.length === 0) return [`no runs of stack ${req.stack} in the history`];
  return runs.map((r) => [
    new Date(r.at).toISOString().replace(/\.\d+Z$/, 'Z'), r.runbook.padEnd(12), r.host, r.status.padEnd(10),
    `${r.critical} critical, ${r.warning} warning, ${r.notices} alert(s)`, ...(r.actions?.length ? [`actions: ${r.actions.join('; ')}`] : []), `run ${r.runId}`,
  ].join('  '));
}
