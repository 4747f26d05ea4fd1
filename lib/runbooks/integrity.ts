/** The integrity runbook: weekly read-only checks from the seed runbooks. */
import type { Fleet, Integrity, Stack } from '../config/schema.js';
import { commandDocumentContent, encodeSpec } from './document.js';

export const INTEGRITY = 'integrity';

export function integritySpec(stack: Stack, integrity: Integrity): string {
  const dash = (v: string | undefined) => v ?? '-';
  return encodeSpec([
    ...integrity.sqlite.map((s) => ['sqlite', s.name, s.container, s.path, s.mode]),
    ...integrity.certificates.map((c) =>
      c.file ? ['certfile', c.name, dash(c.container), c.file]
        : c.nss ? ['nss', c.name, c.container!, c.nss.dir, c.nss.nickname]
        : ['tls', c.name, c.tls!.host, c.tls!.port, c.tls!.serverName ?? c.expectName ?? c.tls!.host]),
    ...integrity.connectivity.map((c) => ['connect', c.name, dash(c.from), c.host, c.port]),
    ...integrity.files.map((f) => ['file', f.path, dash(f.container), dash(f.mode), dash(f.owner), dash(f.sha256)]),
    ...stack.services.map((svc) => ['logsize', svc.container]),
  ]);
}

export function integrityDocumentContent(fleet: Fleet): Record<string, unknown> | undefined {
  const stacks = fleet.stacks.filter((s) => s.integrity);
  if (stacks.length === 0) return undefined;
  return commandDocumentContent({
    description: `shipshape ${fleet.fleet}: integrity checks of a Docker-compose stack: SQLite integrity_check (read-only), certificate expiry and names (PEM, NSS, TLS endpoints), reachability between components, files (mode, owner, drift) and container log sizes. Read-only.`,
    stepName: 'integrity',
    script: 'integrity.sh',
    specs: Object.fromEntries(stacks.map((s) => [s.name, integritySpec(s, s.integrity!)])),
    executionTimeoutSeconds: 3600,
  });
}
