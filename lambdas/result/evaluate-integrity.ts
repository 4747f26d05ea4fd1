/** Integrity evaluator: thresholds and expected names from the config, applied to host facts. */
import type { Fleet, Stack } from '../../lib/config/schema.js';
import type { Finding } from '../../lib/results/findings.js';
import type { IntegrityResult } from '../../lib/results/integrity.js';

/** Whether a certificate name (possibly *.example.com) covers a host name. */
export function nameCovers(certName: string, host: string): boolean {
  const c = certName.toLowerCase();
  const h = host.toLowerCase();
  if (!c.startsWith('*.')) return c === h;
  const rest = h.slice(h.indexOf('.') + 1);
  return h.includes('.') && rest === c.slice(2);
}

export function evaluateIntegrity(r: IntegrityResult, _fleet: Fleet, stack: Stack): Finding[] {
  const cfg = stack.integrity;
  const out: Finding[] = [];
  for (const c of r.checks) {
    const base = { target: c.name, observed: c.value ?? c.detail, threshold: null as Finding['threshold'] };
    switch (c.kind) {
      case 'sqlite':
        out.push({ ...base, check: 'integrity.sqlite', severity: c.ok ? 'ok' : 'critical', observed: c.detail,
          message: c.ok ? `${c.name}: ${c.detail}` : `${c.name} is damaged or unreadable: ${c.detail}. Stop the service and restore the last verified backup.` });
        break;
      case 'cert': {
        const cert = cfg?.certificates.find((x) => x.name === c.name);
        if (!c.ok || c.value === null) {
          out.push({ ...base, check: 'integrity.cert', severity: 'critical', message: `${c.name}: ${c.detail ?? 'no certificate found'}` });
          break;
        }
        const days = c.value;
        const sev = days < (cert?.criticalDays ?? 7) ? 'critical' : days < (cert?.warningDays ?? 30) ? 'warning' : 'ok';
        out.push({ ...base, check: 'integrity.cert', severity: sev, observed: days, threshold: `warning < ${cert?.warningDays ?? 30} days, critical < ${cert?.criticalDays ?? 7} days`,
          message: days < 0 ? `${c.name} expired ${-days} day(s) ago (${c.expiresAt})` : `${c.name} expires in ${days} day(s) (${c.expiresAt})` });
        // Every expected name is checked and each missing one reported on its own.
        const expected = [...new Set([...(cert?.expectNames ?? []), ...(cert?.expectName ? [cert.expectName] : [])])];
        if (expected.length === 0 && cert?.tls?.serverName) expected.push(cert.tls.serverName);
        const names = (c.names ?? '').split(',').filter(Boolean);
        for (const expect of expected) {
          const covered = names.some((n) => nameCovers(n, expect));
          out.push({ check: 'integrity.cert-name', target: expected.length === 1 ? c.name : `${c.name}: ${expect}`, severity: covered ? 'ok' : 'critical', observed: names.join(', ') || 'no names', threshold: expect,
            message: covered ? `${c.name} covers ${expect}` : `${c.name} does not cover ${expect} (it names ${names.join(', ') || 'nothing'}): clients will reject it` });
        }
        break;
      }
      case 'connect':
        out.push({ ...base, check: 'integrity.connect', severity: c.ok ? 'ok' : 'critical', message: `${c.name}: ${c.detail}` });
        break;
      case 'file':
        out.push({ ...base, check: 'integrity.file', severity: c.ok ? 'ok' : c.detail === 'missing' ? 'critical' : 'warning', observed: c.detail, message: `${c.name}: ${c.detail}` });
        break;
      case 'logsize': {
        const max = cfg?.logMaxMiB ?? 500;
        const big = c.value !== null && c.value > max;
        const hint = c.detail ? '' : ' It has no log limit; add to its compose service: logging: { driver: json-file, options: { max-size: "10m", max-file: "3" } }.';
        out.push({ ...base, check: 'integrity.logsize', severity: big ? 'warning' : c.detail ? 'ok' : 'info', threshold: `${max} MiB`,
          message: big ? `the log of ${c.name} is ${c.value} MiB.${hint}` : c.detail ? `${c.name} log ${c.value ?? '?'} MiB, ${c.detail}` : `${c.name} log ${c.value ?? '?'} MiB.${hint}` });
        break;
      }
    }
  }
  for (const e of r.errors) out.push({ check: 'integrity.run', target: r.host, severity: 'warning', observed: e, threshold: null, message: `integrity check could not do everything: ${e}` });
  return out;
}
