/**
 * A fake Docker host for the host scripts: a state directory the fake `docker` reads,
 * a /proc stand-in with chosen memory and load, and the environment that wires it up.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FAKE_BIN = fileURLToPath(new URL('./bin', import.meta.url));
const SERVER = Symbol.for('shipshape.fakeDockerServer');

/**
 * The fake-docker server of this process (fake_docker.py's serve(), started on first use): the
 * file its port goes to once it listens. bin/docker runs the calls itself until then, or if the
 * server is gone. The server ends when this process does (its stdin closes). On globalThis, as
 * the handler tests reset modules in shared workers.
 */
function fakeDockerPortFile(): string {
  const g = globalThis as { [SERVER]?: string };
  if (g[SERVER]) return g[SERVER];
  const file = join(mkdtempSync(join(tmpdir(), 'fake-docker-')), 'port');
  const code = 'import sys\nsys.pycache_prefix = sys.argv[3]\nsys.path[0] = sys.argv[1]\nimport fake_docker\nfake_docker.serve(sys.argv[2])';
  const server = spawn('/usr/bin/python3', ['-SE', '-c', code, fileURLToPath(new URL('.', import.meta.url)), file, join(tmpdir(), 'shipshape-pycache')], { stdio: ['pipe', 'ignore', 'inherit'] });
  server.on('error', () => undefined);
  server.unref();
  (server.stdin as Socket).unref();
  g[SERVER] = file;
  return file;
}

export interface FakeContainer {
  State: { Status: string; Health?: { Status: string }; StartedAt?: string };
  /** The container ID; inspect finds the container by a prefix of it, as docker does. */
  Id?: string;
  RestartCount?: number;
  stats?: { mem: string; cpu: string };
  logs?: string;
  stderrLogs?: string;
  /** Command lines of processes; undefined means pgrep is missing in the image. */
  processes?: string[];
  /** Host directory standing in for the container's file system (sqlite3, cat, rm run there). */
  root?: string;
  /** Other commands docker exec accepts (hooks), with their exit code. */
  commands?: Record<string, { exit?: number; stdout?: string; stderr?: string; stdinTo?: string }>;
  stopFails?: boolean;
  startFails?: boolean;
  /** docker stop kills it after the timeout (State.ExitCode 137). */
  ignoresSigterm?: boolean;
  /** Health status after docker start/restart (e.g. 'unhealthy'); unchanged when unset. */
  healthAfterStart?: string;
  /** Mounts as docker inspect reports them (Name is set for named volumes). */
  Mounts?: { Destination: string; Source: string; Name?: string }[];
  LogPath?: string;
  /** A shell command the fake runs in the background when the container is stopped. */
  onStop?: string;
  HostConfig?: { LogConfig: { Type: string; Config: Record<string, string> } };
  /** Labels (compose sets com.docker.compose.*) and the environment the container was created with. */
  Config?: { Labels?: Record<string, string>; Env?: string[] };
}

export function running(extra: Partial<FakeContainer> = {}): FakeContainer {
  return {
    State: { Status: 'running', Health: { Status: 'healthy' }, StartedAt: '2026-11-21T00:00:00Z' },
    RestartCount: 0,
    stats: { mem: '100MiB / 1.9GiB', cpu: '0.50%' },
    logs: 'started\nlistening\n',
    processes: [],
    ...extra,
  };
}

export class FakeHost {
  readonly dir = mkdtempSync(join(tmpdir(), 'fake-host-'));
  readonly state = join(this.dir, 'docker');
  readonly proc = join(this.dir, 'proc');
  readonly dockerRoot = join(this.dir, 'docker-root');

  constructor(containers: Record<string, FakeContainer> = {}, opts: { memTotalKiB?: number; memAvailKiB?: number; load1?: number; cpus?: number } = {}) {
    mkdirSync(this.state, { recursive: true });
    mkdirSync(this.proc, { recursive: true });
    mkdirSync(this.dockerRoot, { recursive: true });
    this.setContainers(containers);
    const total = opts.memTotalKiB ?? 8_000_000;
    const avail = opts.memAvailKiB ?? 6_000_000;
    writeFileSync(join(this.proc, 'meminfo'), `MemTotal:       ${total} kB\nMemFree:        1000 kB\nMemAvailable:   ${avail} kB\n`);
    writeFileSync(join(this.proc, 'loadavg'), `${opts.load1 ?? 0.5} 0.40 0.30 1/200 12345\n`);
    writeFileSync(join(this.proc, 'stat'), 'cpu  100 0 100 800 0 0 0 0 0 0\n');
    writeFileSync(join(this.proc, 'cpuinfo'), Array.from({ length: opts.cpus ?? 2 }, (_, i) => `processor\t: ${i}\n`).join('\n'));
  }

  setContainers(containers: Record<string, FakeContainer>): void {
    writeFileSync(join(this.state, 'containers.json'), JSON.stringify(containers, null, 2));
  }

  /** Named volumes and the host directories that stand in for their mountpoints. */
  setVolumes(volumes: Record<string, string | { Mountpoint: string; Labels: Record<string, string> }>): void {
    writeFileSync(join(this.state, 'volumes.json'), JSON.stringify(volumes));
  }

  containers(): Record<string, FakeContainer> {
    return JSON.parse(readFileSync(join(this.state, 'containers.json'), 'utf8'));
  }

  /** Every docker invocation so far, as argv arrays. */
  calls(): string[][] {
    const file = join(this.state, 'calls.log');
    if (!existsSync(file)) return [];
    return readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as string[]);
  }

  env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      PATH: `${FAKE_BIN}:${process.env.PATH}`,
      // The run's temporary directory (test/support/run-tmpdir.ts), where the scripts' mktemp goes too.
      ...(process.env.TMPDIR ? { TMPDIR: process.env.TMPDIR } : {}),
      FAKE_DOCKER_STATE: this.state,
      FAKE_DOCKER_ROOT: this.dockerRoot,
      FAKE_DOCKER_PORT_FILE: fakeDockerPortFile(),
      SHIPSHAPE_PROC_ROOT: this.proc,
      SHIPSHAPE_CPU_SAMPLE_SECONDS: '0',
      SHIPSHAPE_STATE_DIR: join(this.dir, 'state'),
      // Each fake host its own stack locks and busy marks, as each real host has its own /run.
      SHIPSHAPE_LOCK_DIR: join(this.dir, 'locks'),
      ...extra,
    };
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
