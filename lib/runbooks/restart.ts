/** The restart runbook: restarts services of a stack in order, with a health wait. */
import type { RunbookDeclaration } from './document.js';
import { RESTART, SERVICES_PATTERN } from './names.js';

export { RESTART, SERVICES_PATTERN };

/** Reads the health-check section of the spec: it names every service and its container. */
export const restartRunbook: RunbookDeclaration = {
  name: RESTART,
  script: 'restart.sh',
  stepName: 'restart',
  description: (fleet) => `shipshape ${fleet}: restart services of a Docker-compose stack, one after another, each waited for until it is running and healthy. Refuses while a backup or restore runs on the host.`,
  executionTimeoutSeconds: 1800,
  appliesTo: () => true,
  parameters: {
    Services: { type: 'String', description: 'Services to restart, in order, separated by commas (e.g. api,worker), or * for all of the stack.', default: '*', allowedPattern: SERVICES_PATTERN },
  },
  console: {
    name: 'restart-service',
    kind: 'host',
    description: (fleet) => `shipshape ${fleet}: restart services of a stack on one host, one after another, waiting for each to be healthy. Use * to restart the whole stack. Refuses while a backup or restore runs on the host. The result lands in the run history and alerts like any run.`,
  },
};
