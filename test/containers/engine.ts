import { beforeAll, describe, it } from 'vitest';

/**
 * The container tier runs wherever podman can start a container. In CI it must run: a
 * missing engine fails there. Elsewhere it is skipped, loudly, with the reason.
 */
export function requireEngine(engine: { ok: true } | { ok: false; reason: string }): void {
  if (engine.ok) return;
  const message = `CONTAINER TESTS DID NOT RUN: ${engine.reason}`;
  if (process.env.CI) {
    describe('container engine', () => it('is available in CI', () => { throw new Error(message); }));
    return;
  }
  beforeAll(() => {
    process.stderr.write(`\n${'!'.repeat(72)}\n!! ${message}\n${'!'.repeat(72)}\n\n`);
  });
}
