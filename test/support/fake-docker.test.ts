/**
 * The fake docker answers through its server (fake_docker.py's serve(), bin/docker as a bash
 * client) exactly as the Python CLI does: the same stdout, stderr and exit code, the same
 * calls.log and container states afterwards. Calls the server hands back (a process to start,
 * stdin to read) still run, through the CLI.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FAKE_BIN, FakeHost, running, type FakeContainer } from './fake-host.js';
import { waitFor } from './podman.js';

const hosts: FakeHost[] = [];
afterEach(() => {
  for (const h of hosts.splice(0)) h.dispose();
});

function containers(root: string): Record<string, FakeContainer> {
  return {
    web: running({
      Id: 'f00dfeed0123',
      // Quotes, backslashes, a NUL, non-ASCII and a lone surrogate: what the output must carry byte for byte.
      logs: 'ok "quoted" \\ back\u0000slash é\nERROR: \ud800 half\n',
      stderrLogs: 'warn\n',
      Config: { Labels: { 'com.docker.compose.project': 'shop', 'com.docker.compose.service': 'web' }, Env: ['A=1', 'B=two words'] },
      Mounts: [{ Destination: '/data', Source: '/srv/data', Name: 'shop_data' }],
      processes: ['/usr/bin/daemon --serve'],
      commands: { hook: { stdout: 'hooked\n', stderr: 'to stderr\n', exit: 3 }, slurp: { stdinTo: join(root, 'stdin'), stdout: 'read\n' } },
      root,
      onStop: `touch ${join(root, 'stopped')}`,
    }),
    idle: running({ State: { Status: 'exited' }, stopFails: true }),
  };
}

/** Both ways of one call sequence: through the server, and with only the CLI. */
function twoHosts(): { server: FakeHost; cli: FakeHost; roots: string[] } {
  const roots = [mkdtempSync(join(tmpdir(), 'fake-docker-root-')), mkdtempSync(join(tmpdir(), 'fake-docker-root-'))];
  const [server, cli] = roots.map((root) => {
    writeFileSync(join(root, 'file.txt'), 'inside the container\n');
    const host = new FakeHost(containers(root));
    host.setVolumes({ shop_data: '/srv/data', other: { Mountpoint: '/srv/other', Labels: { 'com.docker.compose.project': 'shop' } } });
    hosts.push(host);
    return host;
  }) as [FakeHost, FakeHost];
  return { server, cli, roots };
}

function docker(env: Record<string, string>, args: string[], input = '') {
  const r = spawnSync(join(FAKE_BIN, 'docker'), args, { env, input });
  return { status: r.status, stdout: r.stdout.toString('latin1'), stderr: r.stderr.toString('latin1') };
}

const CALLS: string[][] = [
  ['info', '--format', '{{.DockerRootDir}}'],
  ['info'],
  ['ps', '-a', '-q'],
  ['ps', '-a', '--filter', 'label=com.docker.compose.project=shop', '--format', '{{.Names}}'],
  ['ps', '--filter', 'volume=shop_data'],
  ['inspect', '--type', 'container', '--format', '{{.State.Status}}|{{if .State.Health}}{{.State.Health.Status}}{{end}}', 'web', 'idle', 'missing'],
  ['inspect', 'web'],
  ['inspect', '-f', '{{json .Config.Labels}} {{index .Config.Labels "com.docker.compose.service"}}', 'f00dfe'],
  ['inspect', '--format', '{{range .Mounts}}{{.Destination}}|{{.Source}}{{println}}{{end}}', 'web'],
  ['inspect', '--format', '{{range .Config.Env}}{{.}}{{println}}{{end}}{{.Nothing}}', 'web'],
  ['inspect', '--format', '{{range .Config}}{{.}}{{end}}', 'web'],
  ['logs', '--since', '60m', 'web'],
  ['logs', 'missing'],
  ['stats', '--no-stream', '--format', '{{.Name}} {{.MemUsage}} {{.CPUPerc}}', 'web'],
  ['stats', '--no-stream', '--format', '{{.Name}}', 'idle'],
  ['volume', 'ls', '--filter', 'label=com.docker.compose.project=shop'],
  ['volume', 'inspect', '--format', '{{.Mountpoint}}', 'shop_data', 'other'],
  ['volume', 'inspect', 'missing'],
  ['exec', 'web', 'pgrep', '-f', 'daemon'],
  ['exec', 'web', 'timeout', '5', 'hook'],
  ['exec', 'idle', 'true'],
  ['exec', 'web', 'nothing'],
  ['exec', 'web', 'cat', '/file.txt'],
  ['exec', '-i', 'web', 'slurp'],
  ['image', 'prune', '-f'],
  ['container', 'ls'],
  ['restart', 'web'],
  ['stop', '-t', '1', 'idle'],
  ['stop', '-t', '1', 'web'],
  ['start', 'web', 'missing'],
  ['start', 'web'],
  ['frob'],
  [],
];

describe('the fake docker', () => {
  it('answers through its server exactly as its CLI does: output, exit code, calls.log and states', async () => {
    // Prepare
    const { server, cli, roots } = twoHosts();
    const serverEnv = server.env();
    const { FAKE_DOCKER_PORT_FILE: _, ...cliEnv } = cli.env();
    await waitFor(async () => existsSync(serverEnv.FAKE_DOCKER_PORT_FILE!), 'the fake-docker server to listen', 10_000);
    // Act
    const viaServer = CALLS.map((args) => docker(serverEnv, args, 'piped in\n'));
    const viaCli = CALLS.map((args) => docker(cliEnv, args, 'piped in\n'));
    // Assess: the same, call for call (paths differ by each host's directories only)
    const [serverSide, cliSide] = [[server, roots[0]!], [cli, roots[1]!]].map(([host, root]) => (text: string) => text.replaceAll((host as FakeHost).dir, '<host>').replaceAll(root as string, '<root>'));
    const same = (side: (t: string) => string) => (r: ReturnType<typeof docker>) => ({ status: r.status, stdout: side(r.stdout), stderr: side(r.stderr) });
    expect(viaServer.map(same(serverSide!))).toEqual(viaCli.map(same(cliSide!)));
    expect(serverSide!(JSON.stringify(server.calls()))).toBe(cliSide!(JSON.stringify(cli.calls())));
    expect(serverSide!(JSON.stringify(server.containers()))).toBe(cliSide!(JSON.stringify(cli.containers())));
    // The calls were what they are meant to be: errors, a NUL in the output, the hook's stdin, the stop hook.
    expect(viaServer.map((r) => r.status)).toEqual([0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 1, 0, 1, 0, 0, 1, 0, 3, 1, 126, 0, 0, 0, 125, 0, 1, 0, 1, 0, 125, 125]);
    // The lone surrogate as U+FFFD, as Node writes it.
    expect(viaServer[11]!.stdout).toBe(Buffer.from(containers('').web!.logs!, 'utf8').toString('latin1'));
    expect(readFileSync(join(roots[0]!, 'stdin'), 'utf8')).toBe('piped in\n');
    await waitFor(async () => existsSync(join(roots[0]!, 'stopped')), 'the stop hook', 10_000);
    for (const root of roots) rmSync(root, { recursive: true, force: true });
  });

  it('answers from its server without starting Python, and hands back the calls that need a process', async () => {
    // Prepare: a TMPDIR of its own, where the CLI keeps its bytecode
    const { server, roots } = twoHosts();
    const tmp = mkdtempSync(join(tmpdir(), 'fake-docker-tmp-'));
    const env: Record<string, string> = { ...server.env(), TMPDIR: tmp };
    await waitFor(async () => existsSync(env.FAKE_DOCKER_PORT_FILE!), 'the fake-docker server to listen', 10_000);
    // Act
    const answered = docker(env, ['inspect', '--format', '{{.State.Status}}', 'web']);
    const pycacheAfterServer = existsSync(join(tmp, 'shipshape-pycache'));
    const handedBack = docker(env, ['exec', 'web', 'cat', '/file.txt']);
    // Assess
    expect(answered).toEqual({ status: 0, stdout: 'running\n', stderr: '' });
    expect(pycacheAfterServer).toBe(false);
    expect(handedBack).toEqual({ status: 0, stdout: 'inside the container\n', stderr: '' });
    expect(existsSync(join(tmp, 'shipshape-pycache'))).toBe(true);
    rmSync(tmp, { recursive: true, force: true });
    for (const root of roots) rmSync(root, { recursive: true, force: true });
  });
});
