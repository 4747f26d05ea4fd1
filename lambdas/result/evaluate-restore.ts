/** Restore evaluator: a pure function from restore.sh's result to findings. */
import type { Fleet, Stack } from '../../lib/config/schema.js';
import type { Finding } from '../../lib/results/findings.js';
import type { RestoreResult } from '../../lib/results/restore.js';

export function evaluateRestore(r: RestoreResult, _fleet: Fleet, _stack: Stack): Finding[] {
  const out: Finding[] = [];
  const what = `restore of ${r.stack} on ${r.host}${r.from ? ` from ${r.from}` : ''}`;
  // Copies of the data from before the restore that are still on the host (set aside by rename or copy).
  const asides = r.sources.filter((s) => s.aside).map((s) => `${s.name}: ${s.aside}`);
  const uploaded = r.safetyPrefix ? ` A safety backup of the state before the restore is in ${r.safetyPrefix}.` : '';
  if (r.ok) {
    const dropping = r.sources.filter((s) => s.dropping).map((s) => `${s.name}: ${s.dropping}`);
    const removal = dropping.length ? `; the data from before it is being removed in the background (${dropping.join(', ')})` : '';
    out.push({ check: 'restore.result', target: r.host, severity: 'ok', observed: r.sources.map((s) => s.name).join(','), threshold: null, message: `${what} succeeded${removal}` });
  } else if (r.rolledBack === false) {
    const byHand = asides.length ? `the data from before the restore is still on the host at ${asides.join(', ')}` : `from ${r.safetyPrefix ?? 'the last backup'}`;
    out.push({ check: 'restore.rollback', target: r.host, severity: 'critical', observed: 'rollback failed', threshold: 'rolled back',
      message: `${what} FAILED and putting the data from before the restore back failed too: data may be partly restored. Restore by hand: ${byHand}.${asides.length ? uploaded : ''} Errors: ${r.errors.slice(0, 3).join('; ')}` });
  } else if (r.rolledBack === true) {
    out.push({ check: 'restore.result', target: r.host, severity: 'critical', observed: 'rolled back', threshold: 'restored',
      message: `${what} failed and the data from before the restore was put back; the host is as it was before.${uploaded} Errors: ${r.errors.slice(0, 3).join('; ')}` });
  } else {
    out.push({ check: 'restore.result', target: r.host, severity: 'critical', observed: 'not started', threshold: 'restored',
      message: `${what} did not start, nothing was changed: ${r.errors.slice(0, 3).join('; ')}` });
  }
  if (r.ok && asides.length) {
    out.push({ check: 'restore.aside', target: r.host, severity: 'warning', observed: asides.join(', '), threshold: 'removed',
      message: `${what} succeeded but the copies of the data from before it could not be removed and take disk space: ${asides.join(', ')}. Delete them once the restored data is confirmed.` });
  }
  // The last start of each container decides (a rollback starts them again).
  const last = new Map(r.restarts.map((x) => [x.container, x]));
  for (const c of [...last.values()].filter((x) => !x.started || x.state !== 'running')) {
    out.push({ check: 'restore.restart', target: c.container, severity: 'critical', observed: `${c.state}/${c.health}`, threshold: 'running', message: `${c.container} is not running after the restore: start it now` });
  }
  for (const c of r.restarts.filter((x) => x.killed)) {
    out.push({ check: 'restore.stop', target: c.container, severity: 'warning', observed: 'killed', threshold: 'stopped on SIGTERM',
      message: `${c.container} did not stop on SIGTERM within stopTimeoutSeconds and was killed for the restore: raise backup.stopTimeoutSeconds or make it handle SIGTERM` });
  }
  for (const c of [...last.values()].filter((x) => x.state === 'running' && x.health !== 'healthy' && x.health !== 'none')) {
    out.push({ check: 'restore.restart', target: c.container, severity: 'critical', observed: `${c.state}/${c.health}`, threshold: 'running and healthy', message: `${c.container} runs but is ${c.health} after the restore` });
  }
  return out;
}
