import { describe, expect, it } from 'vitest';
import { OK_STATE, type AlertState, type Notice } from '../../../lambdas/result/alert-state.js';
import { buildAlerts, fingerprint, humanBytes, humanDuration, MESSAGE_BUDGET, nextStep, publishSize, SMS_LIMIT, SNS_MESSAGE_LIMIT, type AlertContext } from '../../../lambdas/result/notify.js';
import type { OutboxEntry } from '../../../lambdas/result/state-store.js';
import type { Finding } from '../../../lib/results/findings.js';

const MIN = 60_000;
const T0 = Date.parse('2026-11-22T13:05:00Z');
const ctx: AlertContext = {
  fleet: 'digitalme', region: 'eu-central-1', topicArn: 'arn:aws:sns:eu-central-1:111122223333:alerts', timezone: 'Europe/Berlin',
  runbooks: { 'restart-service': 'Restart-Doc', 'backup-now': 'Backup-Doc', 'drill-now': 'Drill-Doc', restore: 'Restore-Doc', 'health-check-now': 'HC-Doc', silence: 'Silence-Doc', acknowledge: 'Ack-Doc' },
};
const failing = (since: number, runs = 3): AlertState => ({ ...OK_STATE, status: 'failing', severity: 'critical', since, consecutiveFailures: runs, runs, notifiedAt: since, notifiedSeverity: 'critical', announced: true });

function entry(f: Partial<Finding> & Pick<Finding, 'check' | 'target'>, over: Partial<Notice> = {}, runbook = 'health-check', host = 'i-0123456789abcdef0'): OutboxEntry {
  const finding: Finding = { severity: 'critical', observed: null, threshold: null, message: `${f.check} failed`, ...f };
  const notice: Notice = { kind: 'firing', severity: finding.severity === 'warning' ? 'warning' : 'critical', finding, state: failing(T0), at: T0 + 30 * MIN, ...over };
  return { id: `${host}#0`, host: { runbook, stack: 'app', runId: 'run-42', instanceId: host, hostname: 'dm-prod-1', commandId: '0b9c1a2e-1111-2222-3333-444455556666', status: 'Success' }, notice };
}
const parts = (m: ReturnType<typeof buildAlerts>[number]) => {
  const body = JSON.parse(m.Message!);
  return { subject: m.Subject!, email: body.email as string, sms: body.sms as string, json: JSON.parse(body.sqs), attrs: m.MessageAttributes! };
};
const one = (entries: OutboxEntry[], c: AlertContext = ctx) => {
  const msgs = buildAlerts(entries, c);
  expect(msgs).toHaveLength(1);
  return parts(msgs[0]!);
};

describe('rendered messages, per runbook family (no snapshots)', () => {
  it('health: names host, service and what failed in the subject, SMS and body, with local times', () => {
    // Prepare
    const e = entry({ check: 'container.state', target: 'digitalme', observed: 'exited', threshold: 'running', message: 'digitalme-digitalme-1 is exited' });
    // Act
    const m = one([e, entry({ check: 'probe.http', target: 'digitalme: http://127.0.0.1:3000/health', observed: 'connection refused' })]);
    // Assess
    expect(m.subject).toBe('[CRITICAL] digitalme/app dm-prod-1: digitalme not running (exited) (+1 more)');
    expect(m.sms).toBe('CRITICAL digitalme/app dm-prod-1: digitalme not running (exited) (+1 more) since 14:05 CET');
    expect(m.email).toContain('failing since 2026-11-22 14:05 CET (30 min), 3 run(s)');
    expect(m.email).toContain('next: Read `docker logs --tail 100 <container>`');
    expect(m.email).toContain('Restart the service: https://eu-central-1.console.aws.amazon.com/systems-manager/automation/execute/Restart-Doc');
    expect(m.email).toContain('Acknowledge (stops reminders and escalation): ');
    expect(m.json.findings[0]).toMatchObject({ since: '2026-11-22T13:05:00Z', fingerprint: expect.stringMatching(/^ss-[0-9a-f]{24}$/) });
    expect(m.json.timezone).toBe('Europe/Berlin');
  });

  it('backup: sizes in human units and a backup-specific next step', () => {
    // Act
    const m = one([entry({ check: 'backup.size', target: 'db', severity: 'warning', observed: 1_288_490_188, threshold: '>= 2576980377 bytes', message: 'db is 60% smaller than the median of its last 5 backups' }, { severity: 'warning' }, 'backup')]);
    // Assess
    expect(m.subject).toBe('[WARNING] digitalme/app dm-prod-1: db backup much smaller than usual');
    expect(m.email).toContain('observed: 1.2 GiB   expected: >= 2.4 GiB');
    expect(m.email).toContain('next: Compare the archive with the last ones');
    expect(m.email).toContain('Back up now: ');
    expect(m.email).not.toContain('Restore');
  });

  it('drill: never suggests a restore, and says production was not touched', () => {
    // Act
    const m = one([entry({ check: 'drill.archive', target: 'db', observed: 'integrity_check failed', message: 'db from run-41 does not restore' }, {}, 'drill')]);
    // Assess
    expect(m.subject).toBe('[CRITICAL] digitalme/app dm-prod-1: db does not restore in the drill');
    expect(m.email).not.toMatch(/restore the last|Restore-Doc|Restore:/i);
    expect(m.json.actions.join('\n')).not.toContain('Restore-Doc');
    expect(m.email).toContain('Production was not touched');
    expect(m.email).toContain('Drill again: ');
  });

  it('restore: the rollback failure says to work on the host now', () => {
    // Act
    const m = one([entry({ check: 'restore.rollback', target: 'i-0123456789abcdef0', observed: 'rollback failed' }, {}, 'restore')]);
    // Assess
    expect(m.subject).toBe('[CRITICAL] digitalme/app dm-prod-1: restore rollback failed');
    expect(m.email).toContain('next: The restore AND its rollback failed');
  });

  it.each([
    ['integrity.sqlite', 'db', 'database integrity check failed', /PRAGMA integrity_check/],
    ['integrity.cert', 'tls', 'certificate expires in 5 days', /certbot renew/],
    ['integrity.connect', 'redis', 'connection check failed', /dependency named in the message/],
    ['integrity.file', 'config', 'file changed', /Compare the file with the expected one/],
    ['integrity.logsize', 'app.log', 'log file large (900)', /log rotation/],
  ])('integrity %s: its own next step', (check, target, what, step) => {
    // Act
    const m = one([entry({ check, target, observed: check === 'integrity.cert' ? 5 : check === 'integrity.file' ? 'changed' : check === 'integrity.logsize' ? 900 : 'fail' }, {}, 'integrity')]);
    // Assess
    expect(m.subject).toBe(`[CRITICAL] digitalme/app dm-prod-1: ${target} ${what}`);
    expect(m.email).toMatch(step);
  });

  it.each([
    ['maintenance.sqlite', /verified backup was taken/],
    ['remediation.exhausted', /stopped restarting this service/],
    ['secret.apply', /previous value is still in place/],
    ['missed', /run never arrived/],
    ['host.silent', /SSM agent is online/],
    ['run.no-targets', /no host matched/],
    ['backup.age', /no recent restore point/],
    ['secret.age', /rotate-secret-now/],
  ])('%s: a specific next step, not the generic one', (check, step) => {
    // Act / Assess
    expect(nextStep(check)).toMatch(step);
    expect(nextStep(check)).not.toBe(nextStep('unknown.thing'));
  });

  it.each([
    ['maintenance', 'maintenance.sqlite', 'db', 'db database maintenance failed', /after a verified backup was taken/],
    ['remediation', 'remediation.exhausted', 'digitalme', 'digitalme still failing after automatic restarts', /stopped restarting this service/],
    ['apply-secret', 'secret.apply', 'jwt', 'jwt secret not applied', /previous value is still in place/],
    ['watchdog', 'missed', 'backup', 'backup missed its scheduled run', /run never arrived/],
    ['watchdog', 'host.silent', 'health-check', 'no results from this host', /SSM agent is online/],
    ['watchdog', 'backup.age', 'backup', 'no verified backup for 52 h', /no recent restore point/],
  ])('%s %s: subject, SMS and next step name it', (runbook, check, target, what, step) => {
    // Act
    const m = one([entry({ check, target, observed: check === 'backup.age' ? '52 h' : 'failed' }, {}, runbook)]);
    // Assess
    expect(m.subject).toBe(`[CRITICAL] digitalme/app dm-prod-1: ${what}`);
    expect(m.sms).toBe(`CRITICAL digitalme/app dm-prod-1: ${what} since 14:05 CET`);
    expect(m.email).toMatch(step);
  });

  it('RESOLVED says how long it was down, from when to when, and offers no actions', () => {
    // Prepare
    const ok: Finding = { check: 'container.state', target: 'digitalme', severity: 'ok', observed: 'running', threshold: 'running', message: 'running' };
    const e = entry({ check: 'container.state', target: 'digitalme' }, { kind: 'resolved', finding: ok, state: { ...failing(T0, 9), lastObserved: 'exited' }, at: T0 + 135 * MIN });
    // Act
    const m = one([e]);
    // Assess
    expect(m.subject).toBe('[RESOLVED] digitalme/app dm-prod-1: digitalme not running (exited), down 2 h 15 min');
    expect(m.sms).toBe('RESOLVED digitalme/app dm-prod-1: digitalme not running (exited) - down 2 h 15 min');
    expect(m.email).toContain('down 2 h 15 min, from 2026-11-22 14:05 CET to 16:20 CET, 9 failing run(s)');
    expect(m.json.findings[0]).toMatchObject({ resolvedAt: '2026-11-22T15:20:00Z', downForSeconds: 8100 });
    expect(m.json.actions).toEqual([]);
  });

  it('escalation carries its level as an attribute and in the subject', () => {
    // Act
    const m = one([entry({ check: 'container.state', target: 'digitalme', observed: 'exited' }, { kind: 'escalation', level: 2 })]);
    // Assess
    expect(m.subject).toBe('[ESCALATED L2] digitalme/app dm-prod-1: digitalme not running (exited)');
    expect(m.attrs).toMatchObject({ severity: { StringValue: 'escalation' }, level: { StringValue: '2' }, kind: { StringValue: 'escalation' } });
  });

  it('keeps subjects under 100 ASCII characters and SMS within 160, whatever the names', () => {
    // Prepare
    const long = entry({ check: 'probe.http', target: `api: https://${'very-long-host-name.'.repeat(8)}example.com/health`, observed: 'HTTP 503 ✗' });
    // Act
    const m = one([long, ...Array.from({ length: 30 }, (_, i) => entry({ check: 'container.state', target: `svc-${i}` }))]);
    // Assess
    expect(m.subject.length).toBeLessThan(100);
    expect(m.subject).toMatch(/^[\x20-\x7e]+$/);
    expect(m.sms.length).toBeLessThanOrEqual(SMS_LIMIT);
    expect(m.sms).toContain('HTTP check failed');
    expect(m.subject).toMatch(/\(\+30 more\)$/);
  });
});

describe('message size cap', () => {
  it('fails no publish: 20 long errors stay under the SNS limit, the rest behind the output link', () => {
    // Prepare: the 289 KB case from the issue
    const errors = Array.from({ length: 20 }, (_, i) => entry({ check: 'backup.run', target: `src-${i}`, observed: 'x'.repeat(14_000), message: `backup problem: ${'y'.repeat(14_000)}` }, {}, 'backup'));
    // Act
    const m = buildAlerts(errors, ctx)[0]!;
    // Assess
    const size = publishSize(m);
    expect(size).toBeLessThanOrEqual(MESSAGE_BUDGET);
    expect(size).toBeLessThan(SNS_MESSAGE_LIMIT);
    const p = parts(m);
    expect(p.json.omitted + p.json.findings.length).toBe(20);
    expect(p.email).toMatch(/and \d+ more finding\(s\), left out .* open the command output below/);
    expect(p.email).toContain('Command output: https://eu-central-1.console.aws.amazon.com/systems-manager/run-command/');
  });
});

describe('fingerprints and units', () => {
  it('gives one alert the same fingerprint in every message, and different alerts different ones', () => {
    // Prepare
    const id = { fleet: 'f', stack: 's', host: 'i-1', runbook: 'health-check', check: 'container.state', target: 'api' };
    // Act / Assess
    expect(fingerprint(id)).toBe(fingerprint({ ...id }));
    expect(fingerprint(id)).not.toBe(fingerprint({ ...id, host: 'i-2' }));
  });

  it('writes sizes and durations for people', () => {
    expect([humanBytes(512), humanBytes(1536), humanBytes(5 * 1024 ** 3), humanBytes(123 * 1024 ** 2)]).toEqual(['512 B', '1.5 KiB', '5.0 GiB', '123 MiB']);
    expect([humanDuration(45_000), humanDuration(12 * MIN), humanDuration(135 * MIN), humanDuration(51 * 60 * MIN)]).toEqual(['45s', '12 min', '2 h 15 min', '2 d 3 h']);
  });
});
