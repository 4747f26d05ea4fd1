import { describe, it } from 'vitest';

/**
 * The container tier must run: where podman cannot start a container, the suite fails with the
 * reason (`npm test` installs podman first through scripts/host-tools.sh when run as root).
 */
export function requireEngine(engine: { ok: true } | { ok: false; reason: string }): void {
  if (engine.ok) return;
  const message = `CONTAINER TESTS DID NOT RUN: ${engine.reason}`;
  describe('container engine', () => it('is available', () => { throw new Error(message); }));
}
