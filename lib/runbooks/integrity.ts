/**
 * The integrity runbook: weekly read-only checks from the seed runbooks. Containers are compose
 * service names or literal container names (resolved on the host, lib/compose.sh); the expected
 * certificate names stay in the config and are checked by the evaluator against the names the
 * host reports.
 */
import type { Integrity, Stack } from '../config/schema.js';
import type { RunbookDeclaration } from './document.js';
import { INTEGRITY } from './names.js';

export { INTEGRITY };

export function integritySpecLines(stack: Stack, integrity: Integrity): (string | number)[][] {
  const dash = (v: string | undefined) => v ?? '-';
  return [
    ...integrity.sqlite.map((s) => ['sqlite', s.name, s.container, s.path, s.mode, s.runIn]),
    ...integrity.certificates.map((c) =>
      c.file ? ['certfile', c.name, dash(c.container), c.file]
        : c.nss ? ['nss', c.name, c.container!, c.nss.dir, c.nss.nickname]
        : ['tls', c.name, c.tls!.host, c.tls!.port, c.tls!.serverName ?? c.expectName ?? c.expectNames?.[0] ?? c.tls!.host]),
    ...integrity.connectivity.map((c) => ['connect', c.name, dash(c.from), c.host, c.port]),
    ...integrity.files.map((f) => ['file', f.path, dash(f.container), dash(f.mode), dash(f.owner), dash(f.sha256)]),
    ...stack.services.map((svc) => ['logsize', svc.container]),
  ];
}

export const integrityRunbook: RunbookDeclaration = {
  name: INTEGRITY,
  script: 'integrity.sh',
  stepName: 'integrity',
  description: (fleet) => `shipshape ${fleet}: integrity checks of a Docker-compose stack: SQLite integrity_check (read-only), certificate expiry and names (PEM, NSS, TLS endpoints), reachability between components, files (mode, owner, drift) and container log sizes. Read-only.`,
  executionTimeoutSeconds: 3600,
  appliesTo: (stack) => !!stack.integrity,
  schedules: (_fleet, stack) => (stack.integrity ? [stack.integrity.schedule] : []),
  console: {
    name: 'integrity-now',
    kind: 'dispatch',
    description: (fleet) => `shipshape ${fleet}: run the integrity checks of one stack now, on all of its hosts (SQLite, certificates, reachability, files, log sizes). Read-only.`,
  },
};
