/**
 * Health-check evaluator: a pure function from one host's result and the config to
 * findings. Every configured check yields a finding (ok ones included), so that a later
 * run can tell that a problem was resolved.
 */
import { probeId, serviceLogs, stackThresholds } from '../../lib/config/resolve.js';
import { BUILTIN_RESTARTS, type Fleet, type Service, type Stack, type ThresholdPair } from '../../lib/config/schema.js';
import type { Finding } from '../../lib/results/findings.js';
import type { ContainerResult, HealthResult, ProbeResult } from '../../lib/results/health.js';

type Sev = Finding['severity'];

/** Severity of a value against a warning/critical pair (at or above counts). */
export function against(value: number | null, pair: ThresholdPair | undefined): Sev {
  if (value === null || !pair) return 'ok';
  if (pair.critical !== undefined && value >= pair.critical) return 'critical';
  if (pair.warning !== undefined && value >= pair.warning) return 'warning';
  return 'ok';
}

function describePair(pair: ThresholdPair | undefined, unit = ''): string | null {
  if (!pair) return null;
  const parts = [];
  if (pair.warning !== undefined) parts.push(`warning ${pair.warning}${unit}`);
  if (pair.critical !== undefined) parts.push(`critical ${pair.critical}${unit}`);
  return parts.join(', ') || null;
}

function downSeverity(svc: Service): Sev {
  return svc.critical ? 'critical' : 'warning';
}

function expectStatuses(expect: number | number[]): number[] {
  return Array.isArray(expect) ? expect : [expect];
}

export function evaluateHealth(result: HealthResult, fleet: Fleet, stack: Stack): Finding[] {
  const out: Finding[] = [];
  const add = (f: Finding) => out.push(f);
  const t = stackThresholds(fleet, stack);

  // Host
  for (const disk of result.system.disks) {
    const sev = against(disk.usedPercent, t.diskPercent);
    add({ check: 'host.disk', target: disk.path, severity: sev, observed: disk.usedPercent, threshold: describePair(t.diskPercent, '%'),
      message: `disk ${disk.path} is ${disk.usedPercent ?? '?'}% used${disk.availMiB !== null ? ` (${disk.availMiB} MiB free)` : ''}` });
  }
  const mem = result.system.memoryPercent;
  add({ check: 'host.memory', target: 'memory', severity: against(mem, t.memoryPercent), observed: mem, threshold: describePair(t.memoryPercent, '%'),
    message: `memory is ${mem ?? '?'}% used` });
  const cpu = result.system.cpuPercent;
  add({ check: 'host.cpu', target: 'cpu', severity: against(cpu, t.cpuPercent), observed: cpu, threshold: describePair(t.cpuPercent, '%'),
    message: `CPU is ${cpu ?? '?'}% busy` });
  const { load1, cpus } = result.system;
  const perCpu = load1 !== null && cpus ? Math.round((load1 / cpus) * 100) / 100 : null;
  add({ check: 'host.load', target: 'load', severity: against(perCpu, t.loadPerCpu), observed: perCpu, threshold: describePair(t.loadPerCpu),
    message: `1-minute load is ${load1 ?? '?'} on ${cpus ?? '?'} CPUs (${perCpu ?? '?'} per CPU)` });

  for (const tool of result.missingTools) {
    const sev: Sev = tool === 'docker' ? 'critical' : tool === 'curl' && stack.services.some((s) => s.http.length) ? 'warning' : 'info';
    add({ check: 'host.tool', target: tool, severity: sev, observed: 'missing', threshold: 'installed', message: `${tool} is not installed on the host` });
  }
  for (const e of result.errors) {
    add({ check: 'host.script', target: 'health-check.sh', severity: 'warning', observed: e, threshold: null, message: `health check could not do everything: ${e}` });
  }

  // Containers and probes, in config order. A service's containers are those the host resolved
  // for it (all of a scaled compose service); older hosts report the configured name only.
  const byService = new Map<string, ContainerResult[]>();
  for (const c of result.containers) byService.set(c.service, [...(byService.get(c.service) ?? []), c]);
  const byProbe = new Map<string, ProbeResult>(result.probes.map((p) => [p.id, p]));
  const dockerMissing = result.missingTools.includes('docker');
  for (const svc of stack.services) {
    const found = byService.get(svc.name) ?? result.containers.filter((c) => c.container === svc.container);
    if (found.length === 0 && !dockerMissing) {
      add({ check: 'container.reported', target: `${svc.name} (${svc.container})`, severity: 'warning', observed: 'absent', threshold: 'reported', message: `the host did not report container ${svc.container}` });
    }
    for (const c of found) {
      const target = `${svc.name} (${c.container})`;
      if (!c.exists) {
        add({ check: 'container.exists', target, severity: downSeverity(svc), observed: 'missing', threshold: 'exists', message: c.resolveError ?? `container ${c.container} does not exist` });
        continue;
      }
      const running = c.state === 'running';
      const exit = c.lastExitCode !== undefined && c.lastExitCode !== null && (c.lastExitCode !== 0 || !running) ? `, last exit code ${c.lastExitCode}` : '';
      const oom = c.oomKilled ? ', OOM-killed' : '';
      add({ check: 'container.state', target, severity: running ? 'ok' : downSeverity(svc), observed: c.state, threshold: 'running',
        message: running ? `container ${c.container} is running` : `container ${c.container} is ${c.state} (restarts: ${c.restartCount ?? '?'}${exit}${oom})` });
      // Crash loops: restarts since the previous check, even when the container happens to be up now.
      if (c.restartsSincePreviousCheck !== undefined && c.restartsSincePreviousCheck !== null) {
        const pair = svc.restarts ?? BUILTIN_RESTARTS;
        const n = c.restartsSincePreviousCheck;
        add({ check: 'container.restarts', target, severity: against(n, pair), observed: n, threshold: describePair(pair, ' restarts'),
          message: n === 0 ? `container ${c.container} did not restart since the previous check`
            : `container ${c.container} restarted ${n} time${n === 1 ? '' : 's'} since the previous check${c.previousCheckAt ? ` (${c.previousCheckAt})` : ''}, last start ${c.startedAt ?? '?'}${exit || (c.lastExitCode !== undefined && c.lastExitCode !== null ? `, last exit code ${c.lastExitCode}` : '')}${oom}` });
      }
      if (svc.dockerHealth && c.health && c.health !== 'none') {
        const sev: Sev = c.health === 'unhealthy' ? downSeverity(svc) : c.health === 'starting' ? 'info' : 'ok';
        add({ check: 'container.health', target, severity: running ? sev : 'ok', observed: c.health, threshold: 'healthy', message: `container ${c.container} HEALTHCHECK is ${c.health}` });
      }
      if (svc.memoryMiB) {
        add({ check: 'container.memory', target, severity: against(c.memoryMiB, svc.memoryMiB), observed: c.memoryMiB, threshold: describePair(svc.memoryMiB, ' MiB'),
          message: `container ${c.container} uses ${c.memoryMiB ?? '?'} MiB` });
      }
      const logs = serviceLogs(fleet, stack, svc);
      if (running) {
        add({ check: 'container.logs', target, severity: against(c.errorLines, logs.lines), observed: c.errorLines, threshold: describePair(logs.lines, ' lines'),
          message: `${c.errorLines ?? '?'} log lines matching /${logs.pattern}/i in the last ${logs.windowMinutes} min` });
      }
    }
    const c = found.find((x) => x.state !== 'running') ?? found[0];

    const probes: { id: string; check: () => void }[] = [];
    const down = c !== undefined && c.state !== 'running';
    svc.process.forEach((p, i) => probes.push({ id: probeId(svc, 'process', i), check: () => {
      const r = byProbe.get(probeId(svc, 'process', i))!;
      // A stopped container is already a finding; its processes add nothing to it.
      if (down) {
        add({ check: 'probe.process', target: `${svc.name}: ${p.pattern}`, severity: 'info', observed: 'skipped', threshold: 'running', message: `not checked: container ${svc.container} is not running` });
        return;
      }
      add({ check: 'probe.process', target: `${svc.name}: ${p.pattern}`, severity: r.ok ? 'ok' : r.status === 126 || r.status === 127 ? 'warning' : downSeverity(svc),
        observed: r.ok ? 'running' : (r.error ?? 'not running'), threshold: 'running', message: r.ok ? `process /${p.pattern}/ runs in ${svc.container}` : (r.error ?? `no process /${p.pattern}/ in ${svc.container}`) });
    } }));
    svc.http.forEach((h, i) => probes.push({ id: probeId(svc, 'http', i), check: () => {
      const r = byProbe.get(probeId(svc, 'http', i))!;
      const label = `${svc.name}: ${h.name ?? h.url}`;
      const want = expectStatuses(h.expectStatus);
      if (!r.ok || r.status === null) {
        add({ check: 'probe.http', target: label, severity: downSeverity(svc), observed: r.error ?? 'no response', threshold: `HTTP ${want.join('/')}`, message: `${h.url} did not answer: ${r.error ?? 'no response'}` });
        return;
      }
      const statusOk = want.includes(r.status);
      add({ check: 'probe.http', target: label, severity: statusOk ? 'ok' : downSeverity(svc), observed: r.status, threshold: `HTTP ${want.join('/')}`,
        message: statusOk ? `${h.url} answered ${r.status}` : `${h.url} answered ${r.status}, expected ${want.join(' or ')}` });
      if (h.maxLatencyMs !== undefined) {
        const slow = r.latencyMs !== null && r.latencyMs > h.maxLatencyMs;
        add({ check: 'probe.latency', target: label, severity: slow ? 'warning' : 'ok', observed: r.latencyMs, threshold: `${h.maxLatencyMs} ms`,
          message: `${h.url} took ${r.latencyMs ?? '?'} ms (limit ${h.maxLatencyMs} ms)` });
      }
    } }));
    svc.tcp.forEach((p, i) => probes.push({ id: probeId(svc, 'tcp', i), check: () => {
      const r = byProbe.get(probeId(svc, 'tcp', i))!;
      add({ check: 'probe.tcp', target: `${svc.name}: ${p.name ?? `${p.host}:${p.port}`}`, severity: r.ok ? 'ok' : downSeverity(svc), observed: r.ok ? 'open' : (r.error ?? 'closed'),
        threshold: 'open', message: r.ok ? `${p.host}:${p.port} accepts connections` : `${p.host}:${p.port} does not accept connections: ${r.error ?? 'closed'}` });
    } }));
    for (const probe of probes) {
      const r = byProbe.get(probe.id);
      if (r?.waiting) {
        add({ check: 'probe.timeout', target: `${svc.name}: ${probe.id}`, severity: 'warning', observed: r.error ?? 'still waiting', threshold: `within ${result.probeBudgetSeconds ?? '?'} s`,
          message: `probe ${probe.id} (${r.target}) was still waiting when the health check's time budget ran out: ${r.error ?? 'no answer'}` });
      } else if (r) probe.check();
      else add({ check: 'probe.reported', target: `${svc.name}: ${probe.id}`, severity: 'warning', observed: 'absent', threshold: 'reported', message: `the host did not report probe ${probe.id}` });
    }
  }
  return out;
}
