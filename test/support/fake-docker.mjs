#!/usr/bin/env node
// A stand-in for the Docker CLI that serves container states from a fixture directory
// ($FAKE_DOCKER_STATE/containers.json) and logs every call to calls.log. It evaluates the
// small subset of Go templates the host scripts use: {{.A.B}}, {{json .A}} and
// {{if .A}}x{{else}}y{{end}}.
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const stateDir = process.env.FAKE_DOCKER_STATE;
if (!stateDir) {
  process.stderr.write('fake docker: FAKE_DOCKER_STATE is not set\n');
  process.exit(2);
}
const args = process.argv.slice(2);
appendFileSync(join(stateDir, 'calls.log'), JSON.stringify(args) + '\n');
const file = join(stateDir, 'containers.json');
const containers = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
const info = { DockerRootDir: process.env.FAKE_DOCKER_ROOT ?? '/var/lib/docker' };
const volumesFile = join(stateDir, 'volumes.json');
const volumes = existsSync(volumesFile) ? JSON.parse(readFileSync(volumesFile, 'utf8')) : {};
const save = () => writeFileSync(file, JSON.stringify(containers, null, 2));

function lookup(obj, path) {
  return path.split('.').filter(Boolean).reduce((o, k) => (o == null ? undefined : o[k]), obj);
}
function render(tpl, ctx) {
  const tokens = tpl.split(/(\{\{.*?\}\})/);
  let pos = 0;
  // Renders tokens until {{else}} or {{end}} at this level; returns [text, stopper].
  function block(context, active) {
    let out = '';
    while (pos < tokens.length) {
      const part = tokens[pos++];
      const m = /^\{\{\s*(.*?)\s*\}\}$/.exec(part);
      if (!m) { if (active) out += part; continue; }
      const expr = m[1];
      if (expr === 'else' || expr === 'end') return [out, expr];
      if (expr.startsWith('if ')) {
        const cond = active && !!lookup(context, expr.slice(3).trim());
        let [a, stop] = block(context, active && cond);
        let b = '';
        if (stop === 'else') [b] = block(context, active && !cond);
        out += cond ? a : b;
      } else if (expr.startsWith('range ')) {
        const items = active ? lookup(context, expr.slice(6).trim()) ?? [] : [];
        const start = pos;
        if (items.length === 0) block(context, false);
        for (const item of items) { pos = start; out += block(item, true)[0]; }
      } else if (!active) continue;
      else if (expr === 'println') out += '\n';
      else if (expr.startsWith('json ')) out += JSON.stringify(lookup(context, expr.slice(5).trim()) ?? null);
      else if (expr.startsWith('index ')) { const m2 = /^index\s+(\S+)\s+"(.*)"$/.exec(expr); out += String((m2 && lookup(context, m2[1])?.[m2[2]]) ?? ''); }
      else { const v = lookup(context, expr); out += v === undefined || v === null ? '<no value>' : String(v); }
    }
    return [out, undefined];
  }
  return block(ctx, true)[0];
}
function option(name) {
  const i = args.indexOf(name);
  if (i === -1) return undefined;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
}
function noSuch(name, what = 'object') {
  process.stderr.write(`Error: No such ${what}: ${name}\n`);
  process.exit(1);
}
const inspectView = (name, c) => ({ Name: `/${name}`, RestartCount: c.RestartCount ?? 0, State: c.State, Config: c.Config ?? {}, Mounts: c.Mounts ?? [], LogPath: c.LogPath ?? '', HostConfig: c.HostConfig ?? { LogConfig: { Type: 'json-file', Config: {} } } });

const cmd = args.shift();
switch (cmd) {
  case 'info': {
    const fmt = option('--format');
    process.stdout.write((fmt ? render(fmt, info) : JSON.stringify(info)) + '\n');
    break;
  }
  case 'inspect': {
    const fmt = option('--format') ?? option('-f');
    option('--type');
    let rc = 0;
    for (const name of args) {
      const c = containers[name];
      if (!c) { process.stderr.write(`Error: No such object: ${name}\n`); rc = 1; continue; }
      process.stdout.write((fmt ? render(fmt, inspectView(name, c)) : JSON.stringify([inspectView(name, c)])) + '\n');
    }
    process.exit(rc);
  }
  case 'stats': {
    const fmt = option('--format');
    const names = args.filter((a) => a !== '--no-stream');
    for (const name of names) {
      const c = containers[name];
      if (!c || c.State?.Status !== 'running') noSuch(name, 'container');
    }
    for (const name of names) {
      const s = containers[name].stats ?? {};
      process.stdout.write(render(fmt, { Name: name, MemUsage: s.mem ?? '0B / 0B', CPUPerc: s.cpu ?? '0.00%' }) + '\n');
    }
    break;
  }
  case 'logs': {
    option('--since');
    const name = args.pop();
    const c = containers[name];
    if (!c) noSuch(name, 'container');
    process.stdout.write(c.logs ?? '');
    process.stderr.write(c.stderrLogs ?? '');
    break;
  }
  case 'exec': {
    if (args[0] === '-i') args.shift();
    const name = args.shift();
    const c = containers[name];
    if (!c) noSuch(name, 'container');
    if (c.State?.Status !== 'running') {
      process.stderr.write(`Error response from daemon: container ${name} is not running\n`);
      process.exit(1);
    }
    // `timeout N prog …`: the time limit the scripts enforce inside the container.
    let limitArgs = [];
    if (args[0] === 'timeout' && args.length > 2) limitArgs = args.splice(0, 2);
    const [prog, ...rest] = args;
    // Commands that touch files run for real on the host, inside the container's root directory.
    if (['sqlite3', 'cat', 'rm', 'stat', 'sha256sum'].includes(prog) && c.root) {
      const inRoot = (a) => (a.startsWith('/') ? join(c.root, a)
        : a.startsWith('file:/') ? `file:${join(c.root, a.slice(5))}`
        : a.replace(/'(\/[^']*)'/g, (_, p) => `'${join(c.root, p)}'`));
      const r = limitArgs.length ? spawnSync('timeout', [limitArgs[1], prog, ...rest.map(inRoot)], { stdio: 'inherit' }) : spawnSync(prog, rest.map(inRoot), { stdio: 'inherit' });
      process.exit(r.status ?? 1);
    }
    if (c.commands?.[prog]) {
      const cmd = c.commands[prog];
      // stdin: kept in a file when asked (docker exec -i), so tests can see what arrived.
      if (cmd.stdinTo) writeFileSync(cmd.stdinTo, readFileSync(0));
      process.stdout.write(cmd.stdout ?? '');
      process.stderr.write(cmd.stderr ?? '');
      process.exit(cmd.exit ?? 0);
    }
    if (prog === 'pgrep') {
      if (c.processes === undefined) {
        process.stderr.write('OCI runtime exec failed: exec: "pgrep": executable file not found in $PATH\n');
        process.exit(127);
      }
      const pattern = rest[rest.length - 1];
      const re = new RegExp(pattern);
      process.exit(c.processes.some((p) => re.test(p)) ? 0 : 1);
    }
    process.stderr.write(`fake docker: exec ${prog} is not emulated\n`);
    process.exit(126);
  }
  case 'ps': {
    const fmt = option('--format');
    const filter = option('--filter');
    const wanted = filter?.startsWith('volume=') ? filter.slice(7) : undefined;
    const [labelKey, labelValue] = filter?.startsWith('label=') ? filter.slice(6).split('=') : [];
    for (const [name, c] of Object.entries(containers)) {
      if (wanted && !(c.Mounts ?? []).some((m) => m.Name === wanted)) continue;
      if (labelKey && (c.Config?.Labels ?? {})[labelKey] !== labelValue) continue;
      process.stdout.write(render(fmt ?? '{{.Names}}', { Names: name }) + '\n');
    }
    break;
  }
  case 'image':
  case 'container': {
    if (args[0] !== 'prune') { process.stderr.write(`fake docker: ${cmd} ${args[0]} is not emulated\n`); process.exit(125); }
    process.stdout.write(`Deleted: sha256:0123\nTotal reclaimed space: ${cmd === 'image' ? '1.5GB' : '12MB'}\n`);
    break;
  }
  case 'volume': {
    const sub = args.shift();
    const fmt = option('--format');
    // A volume is its mountpoint, or { Mountpoint, Labels } for one compose made.
    const view = (name) => (typeof volumes[name] === 'string' ? { Name: name, Mountpoint: volumes[name], Labels: {} } : { Name: name, Labels: {}, ...volumes[name] });
    if (sub === 'ls') {
      const filter = option('--filter');
      const [k, v] = (filter?.startsWith('label=') ? filter.slice(6) : '').split('=');
      for (const name of Object.keys(volumes)) if (!k || view(name).Labels[k] === v) process.stdout.write(name + '\n');
      break;
    }
    const missing = args.find((name) => !volumes[name]);
    if (sub !== 'inspect' || missing !== undefined || args.length === 0) {
      process.stderr.write(`Error: no such volume: ${missing ?? args[0]}\n`);
      process.exit(1);
    }
    process.stdout.write(fmt ? args.map((name) => render(fmt, view(name)) + '\n').join('') : JSON.stringify(args.map(view)) + '\n');
    break;
  }
  case 'start':
  case 'stop':
  case 'restart': {
    for (const name of args.filter((a) => !a.startsWith('-') && !/^\d+$/.test(a))) {
      const c = containers[name];
      if (!c) noSuch(name, 'container');
      if ((cmd === 'stop' && c.stopFails) || (cmd === 'start' && c.startFails)) {
        process.stderr.write(`Error response from daemon: cannot ${cmd} container ${name}\n`);
        process.exit(1);
      }
      c.State = { ...c.State, Status: cmd === 'stop' ? 'exited' : 'running' };
      // A container that ignores SIGTERM is killed at the end of docker stop -t.
      if (cmd === 'stop') c.State.ExitCode = c.ignoresSigterm ? 137 : 0;
      // The health a container reaches after (re)starting, e.g. 'unhealthy' after a bad restore.
      if (cmd !== 'stop' && c.healthAfterStart) c.State.Health = { Status: c.healthAfterStart };
      // Tests can make something happen on the host right when a container stops.
      if (cmd === 'stop' && c.onStop) spawn('sh', ['-c', c.onStop], { detached: true, stdio: 'ignore' }).unref();
      if (cmd === 'restart') c.RestartCount = (c.RestartCount ?? 0) + 1;
      process.stdout.write(name + '\n');
    }
    save();
    break;
  }
  default:
    process.stderr.write(`fake docker: "${cmd}" is not emulated\n`);
    process.exit(125);
}
