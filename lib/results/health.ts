/**
 * The one JSON document health-check.sh prints. The host script writes it and the
 * result Lambda validates it with this schema, so the contract lives in one place.
 */
import * as z from 'zod';

export const HEALTH_RESULT_SCHEMA = 'shipshape.health-check/1';

const num = z.number().nullable();

export const ContainerResult = z.object({
  service: z.string(),
  /** What the config named: a compose service or a literal container name. */
  ref: z.string().optional(),
  /** The container (one of several when the compose service is scaled). */
  container: z.string(),
  exists: z.boolean(),
  /** Why the name did not resolve: what was looked for and what exists. */
  resolveError: z.string().nullable().optional(),
  state: z.string().nullable(),
  health: z.string().nullable(),
  restartCount: num,
  startedAt: z.string().nullable(),
  /** Restarts (RestartCount) since the previous health check on this host; null on the first. */
  restartsSincePreviousCheck: num.optional(),
  previousCheckAt: z.string().nullable().optional(),
  lastExitCode: num.optional(),
  oomKilled: z.boolean().nullable().optional(),
  memoryMiB: num,
  cpuPercent: num,
  errorLines: num,
  logWindowMinutes: num,
});

export const ProbeResult = z.object({
  id: z.string(),
  service: z.string(),
  type: z.enum(['http', 'tcp', 'process']),
  target: z.string(),
  ok: z.boolean(),
  status: num,
  latencyMs: num,
  error: z.string().nullable(),
  /** Still waiting when the run's time budget ran out. */
  waiting: z.boolean().optional(),
});

export const HealthResult = z.object({
  schema: z.literal(HEALTH_RESULT_SCHEMA),
  stack: z.string(),
  runId: z.string(),
  hostname: z.string(),
  startedAt: z.string(),
  durationMs: num,
  system: z.object({
    disks: z.array(z.object({ path: z.string(), usedPercent: num, availMiB: num })),
    memoryPercent: num,
    memoryTotalMiB: num,
    cpuPercent: num,
    load1: num,
    cpus: num,
  }),
  /** "backup" or "restore" while one runs on the host: remediation leaves the stack alone. */
  busy: z.string().nullable(),
  containers: z.array(ContainerResult),
  probes: z.array(ProbeResult),
  /** Seconds all probes together may take (concurrently) before the run returns what it has. */
  probeBudgetSeconds: num.optional(),
  /** Probes still waiting at the budget, by ID. */
  probesWaiting: z.array(z.string()).optional(),
  missingTools: z.array(z.string()),
  errors: z.array(z.string()),
});
export type HealthResult = z.infer<typeof HealthResult>;
export type ContainerResult = z.infer<typeof ContainerResult>;
export type ProbeResult = z.infer<typeof ProbeResult>;
