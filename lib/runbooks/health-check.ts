/**
 * The health-check runbook: which probes each stack's hosts run. The spec is built from
 * the config at synth time; thresholds stay in the config and are applied by the result
 * Lambda (lambdas/result/evaluate-health.ts).
 */
import { probeId, serviceLogs } from '../config/resolve.js';
import type { Fleet, Stack } from '../config/schema.js';
import { commandDocumentContent, encodeSpec } from './document.js';

export const HEALTH_CHECK = 'health-check';

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

export function healthCheckSpec(fleet: Fleet, stack: Stack): string {
  return encodeSpec(healthCheckSpecLines(fleet, stack));
}

export function healthCheckDocumentContent(fleet: Fleet): Record<string, unknown> {
  return commandDocumentContent({
    description: `shipshape ${fleet.fleet}: health check of a Docker-compose stack. Reports container state, Docker health, restarts, process/HTTP/TCP probes, disk, memory, CPU and error lines in logs as one JSON document. Read-only: it changes nothing on the host.`,
    stepName: 'healthCheck',
    script: 'health-check.sh',
    specs: Object.fromEntries(fleet.stacks.map((s) => [s.name, healthCheckSpec(fleet, s)])),
    executionTimeoutSeconds: fleet.defaults.dispatch.executionTimeoutSeconds,
  });
}
