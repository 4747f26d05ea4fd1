/**
 * The health-check runbook: which probes each stack's hosts run. Thresholds stay in the config
 * and are applied by the result Lambda (lambdas/result/evaluate-health.ts).
 */
import { healthSchedule, probeId, serviceLogs } from '../config/resolve.js';
import type { Fleet, Stack } from '../config/schema.js';
import type { RunbookDeclaration } from './document.js';
import { HEALTH_CHECK } from './names.js';

export { HEALTH_CHECK };

export function healthCheckSpecLines(fleet: Fleet, stack: Stack): (string | number | boolean)[][] {
  const lines: (string | number | boolean)[][] = [];
  if (stack.composeDir) lines.push(['disk', stack.composeDir]);
  for (const svc of stack.services) {
    const logs = serviceLogs(fleet, stack, svc);
    lines.push(['container', svc.name, svc.container, logs.windowMinutes, logs.pattern]);
  }
  for (const svc of stack.services) {
    svc.process.forEach((p, i) => lines.push(['process', probeId(svc, 'process', i), svc.name, svc.container, p.pattern]));
    svc.http.forEach((h, i) => lines.push(['http', probeId(svc, 'http', i), svc.name, h.timeoutSeconds, h.insecure, h.url]));
    svc.tcp.forEach((t, i) => lines.push(['tcp', probeId(svc, 'tcp', i), svc.name, t.timeoutSeconds, t.host, t.port]));
  }
  return lines;
}

export const healthCheckRunbook: RunbookDeclaration = {
  name: HEALTH_CHECK,
  script: 'health-check.sh',
  stepName: 'healthCheck',
  description: (fleet) => `shipshape ${fleet}: health check of a Docker-compose stack. Reports container state, Docker health, restarts, process/HTTP/TCP probes, disk, memory, CPU and error lines in logs as one JSON document. Read-only: it changes nothing on the host.`,
  executionTimeoutSeconds: 300,
  appliesTo: () => true,
  schedules: (fleet, stack) => [healthSchedule(fleet, stack)],
  console: {
    name: 'health-check-now',
    kind: 'dispatch',
    description: (fleet) => `shipshape ${fleet}: run the health check of one stack now, on all of its hosts. Results and alerts follow the same path as the scheduled checks; the run appears under Run Command. Changes nothing on the hosts.`,
  },
};
