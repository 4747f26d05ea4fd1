/**
 * A PostgreSQL image for the container tier, built locally (no registry is reachable): a
 * debootstrap bookworm root with Debian's postgresql, imported into podman once and cached by
 * its tag. The container initialises a cluster in /data/pg on first start (trust auth on the
 * local socket) and runs postgres in the foreground.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildOnce, podmanEnv } from '../support/podman.js';

const run = promisify(execFile);
const MIRROR = process.env.SHIPSHAPE_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
const PACKAGES = ['postgresql', 'postgresql-client', 'procps'];
export const POSTGRES_IMAGE = `localhost/shipshape-test-postgres:bookworm-${PACKAGES.join('-')}`;
export const PG_BIN = '/usr/lib/postgresql/15/bin';

/** The command the container runs: a cluster in /data/pg (a volume), postgres as PID 1's child. */
export const POSTGRES_START = [
  'sh', '-c',
  `mkdir -p /run/postgresql /data/pg && chown postgres /run/postgresql /data/pg && ` +
  `{ [ -s /data/pg/PG_VERSION ] || su postgres -c "${PG_BIN}/initdb -D /data/pg -A trust -U postgres" > /dev/null; } && ` +
  `exec su postgres -c "exec ${PG_BIN}/postgres -D /data/pg -c listen_addresses= -k /run/postgresql"`,
];

export async function ensurePostgresImage(): Promise<string> {
  if (spawnSync('podman', ['image', 'exists', POSTGRES_IMAGE], { env: podmanEnv() }).status === 0) return POSTGRES_IMAGE;
  // Once across processes: the global setup may be building it right now.
  return buildOnce(POSTGRES_IMAGE, async () => {
    const rootfs = mkdtempSync(join(tmpdir(), 'shipshape-pg-rootfs-'));
    try {
      process.stderr.write(`containers: building ${POSTGRES_IMAGE} with debootstrap (a few minutes, once per machine)...\n`);
      await run('debootstrap', ['--variant=minbase', `--include=${PACKAGES.join(',')}`, 'bookworm', rootfs, MIRROR], { maxBuffer: 64 * 1024 * 1024 });
      execFileSync('sh', ['-c', `tar -C "${rootfs}" -c . | podman import - "${POSTGRES_IMAGE}"`], { env: podmanEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
    } finally {
      rmSync(rootfs, { recursive: true, force: true });
    }
  });
}
