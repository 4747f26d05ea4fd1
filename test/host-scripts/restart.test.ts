import { specFile } from '../support/spec-file.js';
import { afterEach, describe, expect, it } from 'vitest';
import { RestartResult } from '../../lib/results/restart.js';
import { healthCheckSpecLines } from '../../lib/runbooks/health-check.js';
import { FakeHost, running } from '../support/fake-host.js';
import { demoFleet } from '../support/fleets.js';
import { runHostScript } from '../support/run-script.js';
import { composeContainer } from '../support/compose.js';

let host: FakeHost;
afterEach(() => host.dispose());
const fleet = demoFleet();

async function restart(services: string, extra: Record<string, string> = {}) {
  const run = await runHostScript('restart.sh', host.env({
    SHIPSHAPE_STACK: 'web', SHIPSHAPE_RUN_ID: 'r', SHIPSHAPE_SPEC_FILE: specFile({ 'health-check': healthCheckSpecLines(fleet, fleet.stacks[0]!) }), SHIPSHAPE_SERVICES: services, SHIPSHAPE_HEALTH_WAIT_SECONDS: '1', ...extra,
  }));
  return RestartResult.parse(run.json);
}

describe('restart.sh', () => {
  it('restarts the services asked for, in the order of the stack, and waits for them', async () => {
    host = new FakeHost({ 'web-api-1': running(), 'web-db-1': running() });
    const r = await restart('*');
    expect(r.errors).toEqual([]);
    expect(r.services.map((s) => [s.service, s.ok, s.state])).toEqual([['api', true, 'running'], ['db', true, 'running']]);
    expect(host.calls().filter((c) => c[0] === 'restart').map((c) => c[c.length - 1])).toEqual(['web-api-1', 'web-db-1']);
    expect(host.containers()['web-api-1']!.RestartCount).toBe(1);
  });

  it('restarts every container of a scaled compose service, and names a service that does not resolve', async () => {
    // Prepare: compose service names; api runs twice, db is not there
    host = new FakeHost({ ...composeContainer('shop', 'api', 1), ...composeContainer('shop', 'api', 2), ...composeContainer('shop', 'cache', 1) });
    const composeFleet = demoFleet((f) => { f.stacks[0]!.services = f.stacks[0]!.services.map((s) => ({ ...s, container: s.name })); });
    // Act
    const run = await runHostScript('restart.sh', host.env({ SHIPSHAPE_STACK: 'web', SHIPSHAPE_SERVICES: '*', SHIPSHAPE_HEALTH_WAIT_SECONDS: '1',
      SHIPSHAPE_SPEC_FILE: specFile({ compose: [['project', 'shop', '-']], 'health-check': healthCheckSpecLines(composeFleet, composeFleet.stacks[0]!) }) }));
    // Assess
    const r = RestartResult.parse(run.json);
    expect(r.services.map((s) => [s.service, s.container, s.ok])).toEqual([['api', 'shop-api-1', true], ['api', 'shop-api-2', true], ['db', 'db', false]]);
    expect(r.errors[0]).toContain("db: no container for 'db': looked for compose service 'db' of project 'shop'");
    expect(host.calls().filter((c) => c[0] === 'restart').map((c) => c[c.length - 1])).toEqual(['shop-api-1', 'shop-api-2']);
  });

  it('restarts only the named service', async () => {
    host = new FakeHost({ 'web-api-1': running(), 'web-db-1': running() });
    const r = await restart('db');
    expect(r.services.map((s) => s.service)).toEqual(['db']);
  });

  it('reports a service that does not become healthy', async () => {
    host = new FakeHost({ 'web-api-1': running({ State: { Status: 'running', Health: { Status: 'unhealthy' } } }), 'web-db-1': running() });
    const r = await restart('api');
    expect(r.services[0]).toMatchObject({ ok: false, health: 'unhealthy', error: 'not healthy after 1s (running, unhealthy)' });
    expect(r.errors).toEqual(['api: not healthy after 1s (running, unhealthy)']);
  });

  it('refuses while a backup runs on the host', async () => {
    host = new FakeHost({ 'web-api-1': running(), 'web-db-1': running() });
    const lock = `${host.dir}/locks`;
    const { mkdirSync, writeFileSync } = await import('node:fs');
    mkdirSync(lock);
    writeFileSync(`${lock}/web.busy`, 'backup\n');
    const r = await restart('*', { SHIPSHAPE_LOCK_DIR: lock });
    expect(r).toMatchObject({ busy: 'backup', services: [], errors: ['a backup is running on this host; nothing was restarted'] });
    expect(host.calls().some((c) => c[0] === 'restart')).toBe(false);
  });

  it('says so when no service matches', async () => {
    host = new FakeHost({ 'web-api-1': running(), 'web-db-1': running() });
    expect((await restart('nope')).errors).toEqual(["no service of stack 'web' matches 'nope'"]);
  });
});
