/**
 * Effective settings: stack values over fleet defaults over built-in defaults.
 * Both the host spec (synth time) and the evaluators (run time) use these, so the
 * host and the Lambda never disagree about a threshold.
 */
import type { Fleet, Service, Stack, Thresholds, ThresholdPair, Schedule } from './schema.js';

export const BUILTIN_THRESHOLDS: Required<Thresholds> = {
  diskPercent: { warning: 80, critical: 90 },
  memoryPercent: { warning: 85, critical: 95 },
  cpuPercent: { warning: 90 },
  loadPerCpu: { warning: 2, critical: 4 },
};

export const BUILTIN_LOGS = { pattern: 'error|fatal|panic|exception', windowMinutes: 60, lines: { warning: 1 } as ThresholdPair };

export const BUILTIN_HEALTH_SCHEDULE: Schedule = { cron: '*/15 * * * ? *', timezone: 'UTC', enabled: true };

export function stackThresholds(fleet: Fleet, stack: Stack): Required<Thresholds> {
  const out = { ...BUILTIN_THRESHOLDS };
  for (const layer of [fleet.defaults.thresholds, stack.thresholds ?? {}]) {
    for (const [k, v] of Object.entries(layer) as [keyof Thresholds, ThresholdPair | undefined][]) {
      if (v) out[k] = v;
    }
  }
  return out;
}

export function serviceLogs(fleet: Fleet, stack: Stack, service: Service) {
  return service.logs ?? stack.logs ?? fleet.defaults.logs ?? BUILTIN_LOGS;
}

export function healthSchedule(fleet: Fleet, stack: Stack): Schedule {
  return stack.schedules.healthCheck ?? fleet.defaults.schedules.healthCheck ?? BUILTIN_HEALTH_SCHEDULE;
}

export function stackDispatch(fleet: Fleet, stack: Stack) {
  return stack.dispatch ?? fleet.defaults.dispatch;
}

export function findStack(fleet: Fleet, name: string): Stack | undefined {
  return fleet.stacks.find((s) => s.name === name);
}

/** Stable probe IDs shared by the host spec and the evaluator. */
export function probeId(service: Service, kind: 'http' | 'tcp' | 'process', index: number): string {
  return `${service.name}/${kind}/${index}`;
}
