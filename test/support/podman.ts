/**
 * Real containers for the host scripts: podman (runc, lowered rlimits, overlay storage) with
 * a `docker` shim on PATH, images built once from a debootstrap root and cached by content
 * hash, and a compose-like stack with named volumes, labels, port mappings and healthchecks.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const IMAGES_DIR = fileURLToPath(new URL('../containers/images/', import.meta.url));
const WORK = join(tmpdir(), 'shipshape-podman');
const CONF = join(WORK, 'containers.conf');
export const SHIM_BIN = join(WORK, 'bin');
const NO_DPKG = join(WORK, 'no-dpkg');
/**
 * How long a container suite's beforeAll may wait for the images: on a fresh machine the global
 * setup builds them while the other files run (a debootstrap build takes minutes).
 */
export const IMAGES_WAIT_MS = 20 * 60_000;
/** Packages of the base image; part of its cache key. */
const BASE_PACKAGES = ['sqlite3', 'python3', 'procps'];
const MIRROR = process.env.SHIPSHAPE_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';

/** Writes a file unless it holds that already: other processes may be running it right now. */
function keep(path: string, text: string, mode = 0o644): void {
  if (!existsSync(path) || readFileSync(path, 'utf8') !== text) writeFileSync(path, text, { mode });
  chmodSync(path, mode);
}

function prepareConfig(): void {
  mkdirSync(SHIM_BIN, { recursive: true });
  mkdirSync(NO_DPKG, { recursive: true });
  keep(CONF, '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\n[engine]\nruntime = "runc"\n');
  // podman info (and the API service's, for compose) asks dpkg which package each program it
  // names comes from (~0.2 s of CPU per call; the health check runs docker info): answered
  // "unknown" at once by these stand-ins, first on podman's PATH. The host scripts read DockerRootDir.
  for (const tool of ['dpkg', 'dpkg-query', 'rpm']) keep(join(NO_DPKG, tool), '#!/bin/sh\nexit 1\n', 0o755);
  // The real Docker client may come first on PATH; host scripts must reach podman.
  keep(join(SHIM_BIN, 'docker'), `#!/bin/sh\nPATH=${NO_DPKG}:$PATH CONTAINERS_CONF=${CONF} exec podman "$@"\n`, 0o755);
}

export const podmanEnv = (): NodeJS.ProcessEnv => ({ ...process.env, PATH: `${NO_DPKG}:${process.env.PATH}`, CONTAINERS_CONF: CONF });

export async function podman(...args: string[]): Promise<string> {
  const { stdout } = await run('podman', args, { env: podmanEnv(), maxBuffer: 64 * 1024 * 1024 });
  return stdout.trim();
}

/** Whether a container can start here; the reason when it cannot. */
export function engineStatus(): { ok: true } | { ok: false; reason: string } {
  // The container tier's global setup asked once for the run (podman info: ~0.2 s of CPU even
  // without dpkg); its workers inherit the answer.
  if (process.env.SHIPSHAPE_ENGINE_OK === '1') { prepareConfig(); return { ok: true }; }
  if (spawnSync('sh', ['-c', 'command -v podman']).status !== 0) return { ok: false, reason: 'podman is not installed (apt-get install podman runc uidmap slirp4netns fuse-overlayfs debootstrap)' };
  prepareConfig();
  const probe = spawnSync('podman', ['info', '--format', '{{.Host.OCIRuntime.Name}}'], { env: podmanEnv(), encoding: 'utf8' });
  if (probe.status !== 0) return { ok: false, reason: `podman info failed: ${probe.stderr.trim().slice(0, 300)}` };
  return { ok: true };
}

function hashOf(parts: string[]): string {
  return createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 16);
}

/** Tags seen to exist in this process: the suites share worker processes, and none removes an image another uses. */
const existing = new Set<string>();

async function imageExists(tag: string): Promise<boolean> {
  if (existing.has(tag)) return true;
  const found = spawnSync('podman', ['image', 'exists', tag], { env: podmanEnv() }).status === 0;
  if (found) existing.add(tag);
  return found;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * Builds an image once across processes: the global setup starts the builds in the background
 * while the other tiers run, and a container suite that starts first waits here for that build
 * instead of starting a second one. A lock directory per tag holds the builder's pid (a lock whose
 * builder is gone is taken over) and, when the build failed, its error, which waiters throw.
 */
export async function buildOnce(tag: string, build: () => Promise<void>): Promise<string> {
  const lock = join(WORK, 'locks', tag.replace(/[^A-Za-z0-9.-]/g, '_'));
  mkdirSync(join(WORK, 'locks'), { recursive: true });
  for (;;) {
    if (await imageExists(tag)) return tag;
    try {
      mkdirSync(lock);
    } catch {
      const error = join(lock, 'error');
      if (existsSync(error)) throw new Error(`building ${tag} failed in another process: ${readFileSync(error, 'utf8')}`);
      const pid = Number(readFileSync(join(lock, 'pid'), { encoding: 'utf8', flag: 'a+' }) || 0);
      if (pid && !alive(pid)) rmSync(lock, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 1000));
      continue;
    }
    writeFileSync(join(lock, 'pid'), String(process.pid));
    try {
      if (!(await imageExists(tag))) await build();
    } catch (err) {
      writeFileSync(join(lock, 'error'), (err as Error).message.slice(0, 2000));
      throw err;
    }
    rmSync(lock, { recursive: true, force: true });
    return tag;
  }
}

/** Locks left by builds of an earlier run (a failed build leaves its error for that run's waiters). */
export function clearBuildLocks(): void {
  rmSync(join(WORK, 'locks'), { recursive: true, force: true });
}

function progress(message: string): void {
  process.stderr.write(`containers: ${message}\n`);
}

async function baseImage(): Promise<string> {
  const tag = `localhost/shipshape-test-base:${hashOf(['bookworm', 'minbase', ...BASE_PACKAGES])}`;
  return buildOnce(tag, async () => {
    const rootfs = mkdtempSync(join(tmpdir(), 'shipshape-rootfs-'));
    try {
      progress(`building ${tag} with debootstrap (about a minute, once per machine)...`);
      const t0 = Date.now();
      await run('debootstrap', ['--variant=minbase', `--include=${BASE_PACKAGES.join(',')}`, 'bookworm', rootfs, MIRROR], { maxBuffer: 64 * 1024 * 1024 });
      execFileSync('sh', ['-c', `tar -C "${rootfs}" -c . | podman import - "${tag}"`], { env: podmanEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
      progress(`base image ready in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    } finally {
      rmSync(rootfs, { recursive: true, force: true });
    }
  });
}

async function buildImage(name: 'app' | 'proc', base: string): Promise<string> {
  const containerfile = `Containerfile.${name}`;
  const files = ['server.py', 'writer.sh', 'app-start.sh', 'sigul_server', 'proc-start.sh', containerfile];
  const tag = `localhost/shipshape-test-${name}:${hashOf([base, ...files.map((f) => readFileSync(join(IMAGES_DIR, f), 'utf8'))])}`;
  return buildOnce(tag, async () => {
    progress(`building ${tag}...`);
    await podman('build', '--quiet', '--build-arg', `BASE=${base}`, '-f', join(IMAGES_DIR, containerfile), '-t', tag, IMAGES_DIR);
  });
}

/** Whether the container tier's images are all built already (a warm machine). */
export async function imagesReady(extra: string[] = []): Promise<boolean> {
  // The sequencer asks from vitest's main process before any setup ran: without the config file
  // CONTAINERS_CONF names, every podman call fails and the images look missing (the container
  // suites then went last, after every other file, on a machine that had them).
  prepareConfig();
  const base = `localhost/shipshape-test-base:${hashOf(['bookworm', 'minbase', ...BASE_PACKAGES])}`;
  if (!(await imageExists(base))) return false;
  for (const tag of extra) if (!(await imageExists(tag))) return false;
  const tags = spawnSync('podman', ['images', '--format', '{{.Repository}}', '--filter', 'reference=localhost/shipshape-test-*'], { env: podmanEnv(), encoding: 'utf8' }).stdout ?? '';
  return ['app', 'proc'].every((n) => tags.includes(`localhost/shipshape-test-${n}`));
}

export async function ensureImages(): Promise<{ app: string; proc: string }> {
  const base = await baseImage();
  return { app: await buildImage('app', base), proc: await buildImage('proc', base) };
}

export interface ServiceDef {
  readonly service: string;
  readonly image: string;
  /** Host port mapped to 8080 in the container. */
  readonly port?: number;
  /** Named volume mounted at /data. */
  readonly volume?: string;
  readonly healthCmd?: string;
  /** Bind mounts, as podman run -v takes them ("/host/file:/in/container:ro"). */
  readonly binds?: string[];
  /** Environment variables of the container. */
  readonly env?: Record<string, string>;
  /** Command instead of the image's CMD. */
  readonly command?: string[];
}

/** A compose-like project: containers named <project>-<service>-1, labelled as compose does. */
export class PodmanStack {
  readonly containers: string[] = [];
  private readonly withHealthcheck: string[] = [];
  readonly volumes = new Set<string>();

  constructor(readonly project: string) {}

  containerName(service: string): string {
    return `${this.project}-${service}-1`;
  }

  async up(defs: ServiceDef[]): Promise<void> {
    for (const d of defs) {
      const name = this.containerName(d.service);
      const args = ['run', '-d', '--name', name, '--label', `com.docker.compose.project=${this.project}`, '--label', `com.docker.compose.service=${d.service}`];
      if (d.port) args.push('-p', `127.0.0.1:${d.port}:8080`);
      if (d.volume) {
        const vol = `${this.project}_${d.volume}`;
        if (!this.volumes.has(vol)) await podman('volume', 'create', '--label', `com.docker.compose.project=${this.project}`, vol);
        this.volumes.add(vol);
        args.push('-v', `${vol}:/data`);
      }
      for (const b of d.binds ?? []) args.push('-v', b);
      for (const [k, v] of Object.entries(d.env ?? {})) args.push('-e', `${k}=${v}`);
      if (d.healthCmd) args.push('--health-cmd', d.healthCmd, '--health-interval', '0', '--health-retries', '1', '--health-timeout', '5s');
      await podman(...args, d.image, ...(d.command ?? []));
      this.containers.push(name);
      if (d.healthCmd) this.withHealthcheck.push(name);
    }
  }

  /** Podman has no scheduler for healthchecks without systemd: run them now, as the interval would. */
  async runHealthchecks(): Promise<void> {
    for (const c of this.withHealthcheck) {
      spawnSync('podman', ['healthcheck', 'run', c], { env: podmanEnv() });
    }
  }

  async down(): Promise<void> {
    for (const c of this.containers) spawnSync('podman', ['rm', '-f', '-t', '0', c], { env: podmanEnv() });
    for (const v of this.volumes) spawnSync('podman', ['volume', 'rm', '-f', v], { env: podmanEnv() });
  }
}

/** Waits until `check` passes, for states the engine reaches asynchronously. */
export async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

