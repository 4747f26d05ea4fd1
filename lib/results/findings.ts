import * as z from 'zod';

/** One evaluated check. `ok` findings are kept so that resolutions can be computed. */
export const Finding = z.object({
  check: z.string(),
  target: z.string(),
  severity: z.enum(['ok', 'info', 'warning', 'critical']),
  observed: z.union([z.string(), z.number(), z.null()]),
  threshold: z.union([z.string(), z.number(), z.null()]),
  message: z.string(),
});
export type Finding = z.infer<typeof Finding>;
export type FindingSeverity = Finding['severity'];

const RANK: Record<FindingSeverity, number> = { ok: 0, info: 1, warning: 2, critical: 3 };

export function worstSeverity(findings: readonly Finding[]): FindingSeverity {
  return findings.reduce<FindingSeverity>((w, f) => (RANK[f.severity] > RANK[w] ? f.severity : w), 'ok');
}

export function failing(findings: readonly Finding[]): Finding[] {
  return findings.filter((f) => f.severity === 'warning' || f.severity === 'critical');
}
