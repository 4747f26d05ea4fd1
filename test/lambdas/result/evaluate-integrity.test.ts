/** Findings of the integrity evaluator against the config's thresholds and names (host facts given, not gathered). */
import { describe, expect, it } from 'vitest';
import { evaluateIntegrity, nameCovers } from '../../../lambdas/result/evaluate-integrity.js';
import type { IntegrityResult } from '../../../lib/results/integrity.js';
import { INTEGRITY } from '../../../lib/runbooks/names.js';
import { evaluateStdout, header } from '../../support/evaluate.js';
import { demoFleet } from '../../support/fleets.js';

const fleet = demoFleet((f) => {
  f.stacks[0]!.integrity = {
    certificates: [
      { name: 'edge-tls', tls: { host: '127.0.0.1', port: 443, serverName: 'edge.example.com' }, warningDays: 45, criticalDays: 10 },
      { name: 'server-crt', file: '/opt/web/certs/server.crt' },
    ],
    logMaxMiB: 100,
  };
});
const stack = fleet.stacks[0]!;
type Check = IntegrityResult['checks'][number];

const check = (kind: Check['kind'], name: string, change: Partial<Check> = {}): Check => ({ kind, name, ok: true, value: null, detail: null, expiresAt: null, names: null, ...change });
const cert = (name: string, days: number, names = 'edge.example.com') => check('cert', name, { value: days, expiresAt: '2027-01-01T00:00:00Z', names });
const integrity = (checks: Check[], errors: string[] = []): IntegrityResult => ({ ...header, schema: 'shipshape.integrity/1', checks, errors });
const only = (checks: Check[], kind: string) => evaluateIntegrity(integrity(checks), fleet, stack).filter((f) => f.check === kind);

describe('integrity evaluator', () => {
  it('reports a healthy host as ok, every kind of check', () => {
    // Prepare
    const result = integrity([
      check('sqlite', 'app-db', { detail: 'ok' }), cert('edge-tls', 200), cert('server-crt', 200, 'server.internal'),
      check('connect', 'api-to-redis', { value: 2, detail: 'redis:6379 reachable' }), check('file', '/opt/web/.env', { detail: 'mode 0600 owner root' }),
      check('logsize', 'web-api-1', { value: 20, detail: 'max-size 10m' }),
    ]);
    // Act
    const findings = evaluateIntegrity(result, fleet, stack);
    // Assess
    expect(findings.filter((f) => f.severity !== 'ok')).toEqual([]);
    expect(findings.map((f) => f.check)).toEqual(['integrity.sqlite', 'integrity.cert', 'integrity.cert-name', 'integrity.cert', 'integrity.connect', 'integrity.file', 'integrity.logsize']);
  });

  it('fails when a certificate nears expiry: the stack\'s own warningDays and criticalDays, defaults elsewhere', () => {
    // Assess
    expect(only([cert('edge-tls', 44)], 'integrity.cert')).toEqual([expect.objectContaining({ severity: 'warning', observed: 44, threshold: 'warning < 45 days, critical < 10 days' })]);
    expect(only([cert('edge-tls', 9)], 'integrity.cert')[0]!.severity).toBe('critical');
    expect(only([cert('server-crt', 29)], 'integrity.cert')).toEqual([expect.objectContaining({ severity: 'warning', threshold: 'warning < 30 days, critical < 7 days' })]);
    expect(only([cert('server-crt', -3)], 'integrity.cert')[0]).toMatchObject({ severity: 'critical', message: expect.stringContaining('expired 3 day(s) ago') });
  });

  it('fails when a certificate could not be read: critical', () => {
    // Act
    const findings = only([check('cert', 'edge-tls', { ok: false, detail: 'connection refused' })], 'integrity.cert');
    // Assess
    expect(findings).toEqual([expect.objectContaining({ severity: 'critical', message: 'edge-tls: connection refused' })]);
  });

  it('fails when the certificate does not cover the TLS server name; wildcards cover one label only', () => {
    // Assess
    expect(only([cert('edge-tls', 200, 'other.example.com')], 'integrity.cert-name')).toEqual([expect.objectContaining({ severity: 'critical', observed: 'other.example.com', threshold: 'edge.example.com' })]);
    expect(only([cert('edge-tls', 200, 'x.example.org,*.example.com')], 'integrity.cert-name')[0]!.severity).toBe('ok');
    expect(nameCovers('*.example.com', 'a.b.example.com')).toBe(false);
    expect(nameCovers('EDGE.example.com', 'edge.EXAMPLE.com')).toBe(true);
  });

  it('fails when a database is damaged, a peer is unreachable, a file is missing or changed', () => {
    // Prepare
    const result = integrity([
      check('sqlite', 'app-db', { ok: false, detail: '*** in database main *** Page 3 is never used' }),
      check('connect', 'api-to-redis', { ok: false, detail: 'redis:6379 not reachable from web-api-1' }),
      check('file', '/opt/web/.env', { ok: false, detail: 'missing' }),
      check('file', '/opt/web/config.yaml', { ok: false, detail: 'sha256 changed' }),
    ]);
    // Act
    const findings = evaluateIntegrity(result, fleet, stack);
    // Assess
    expect(findings.map((f) => [f.check, f.target, f.severity])).toEqual([
      ['integrity.sqlite', 'app-db', 'critical'], ['integrity.connect', 'api-to-redis', 'critical'],
      ['integrity.file', '/opt/web/.env', 'critical'], ['integrity.file', '/opt/web/config.yaml', 'warning'],
    ]);
  });

  it('fails when a container log is bigger than logMaxMiB, with the compose snippet when it has no limit', () => {
    // Act
    const findings = only([check('logsize', 'web-api-1', { value: 101 }), check('logsize', 'web-db-1', { value: 12 })], 'integrity.logsize');
    // Assess
    expect(findings.map((f) => [f.target, f.severity])).toEqual([['web-api-1', 'warning'], ['web-db-1', 'info']]);
    expect(findings[0]!.message).toContain('max-size');
  });

  it('fails when the host could not do everything: integrity.run warnings', () => {
    // Act
    const findings = evaluateIntegrity(integrity([], ['certutil is not available in sigul-bridge']), fleet, stack);
    // Assess
    expect(findings).toEqual([expect.objectContaining({ check: 'integrity.run', severity: 'warning', observed: 'certutil is not available in sigul-bridge' })]);
  });

  it('fails when the host printed a malformed integrity result: one critical run.output', () => {
    // Prepare
    const bad = integrity([{ ...check('sqlite', 'app-db'), kind: 'postgres' as Check['kind'] }]);
    // Act
    const evaluation = evaluateStdout(INTEGRITY, JSON.stringify(bad), fleet);
    // Assess
    expect(evaluation.findings).toEqual([expect.objectContaining({ check: 'run.output', severity: 'critical' })]);
    expect(evaluation.findings[0]!.observed).toMatch(/integrity result schema at checks\.0\.kind/);
  });
});
