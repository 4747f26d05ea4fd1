/**
 * The secret-grace runbook: when a rotated secret's grace period (graceDays) ends, the previous
 * value leaves every host (the previousVariable line or the previousFile), the containers that
 * still hold it are recreated or restarted as their delivery needs, and each is verified not to
 * hold it. Sent by the rotation function's hourly sweep, never scheduled per stack. Reads the
 * spec's secrets and compose sections (lib/runbooks/secrets.ts).
 */
import type { RunbookDeclaration } from './document.js';
import { SECRET_GRACE } from './names.js';
import { SECRET_PARAM_PATTERN } from './secrets.js';

export { SECRET_GRACE };

export const secretGraceRunbook: RunbookDeclaration = {
  name: SECRET_GRACE,
  script: 'secret-grace.sh',
  stepName: 'secretGrace',
  description: (fleet) => `shipshape ${fleet}: end the grace period of a rotated application secret on a host: the previous value leaves the env file (its previous variable) or its previous file is deleted, the containers that still hold it are recreated (env file) or restarted (file), and each is checked not to hold it any more. Sent by the rotation function's hourly sweep when graceDays have passed.`,
  executionTimeoutSeconds: 900,
  appliesTo: (stack) => stack.secrets.some((s) => s.graceDays !== undefined),
  parameters: {
    Secret: { type: 'String', description: 'Which secret of the stack.', allowedPattern: SECRET_PARAM_PATTERN },
    GraceEnded: { type: 'String', description: 'When the grace period ended (UTC, e.g. 2026-11-29T10:00Z), for the result.', default: '', allowedPattern: '^([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}Z)?$' },
  },
};
