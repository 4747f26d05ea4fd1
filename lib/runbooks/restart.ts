/** The restart runbook: restarts services of a stack in order, with a health wait. */
import type { Fleet } from '../config/schema.js';
import { commandDocumentContent } from './document.js';
import { healthCheckSpec } from './health-check.js';

export const RESTART = 'restart';
export const SERVICES_PATTERN = '^([*]|[a-z][a-z0-9-]{0,39}(,[a-z][a-z0-9-]{0,39}){0,49})$';

export function restartDocumentContent(fleet: Fleet): Record<string, unknown> {
  return commandDocumentContent({
    description: `shipshape ${fleet.fleet}: restart services of a Docker-compose stack, one after another, each waited for until it is running and healthy. Refuses while a backup or restore runs on the host.`,
    stepName: 'restart',
    script: 'restart.sh',
    // The health spec names every service and its container.
    specs: Object.fromEntries(fleet.stacks.map((s) => [s.name, healthCheckSpec(fleet, s)])),
    executionTimeoutSeconds: 1800,
    parameters: {
      Services: { type: 'String', description: 'Services to restart, in order, separated by commas (e.g. api,worker), or * for all of the stack.', default: '*', allowedPattern: SERVICES_PATTERN },
    },
  });
}
