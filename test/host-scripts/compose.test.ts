import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { composeContainer, composeLabels, composeVolume } from '../support/compose.js';
import { FAKE_BIN, FakeHost, running, type FakeContainer } from '../support/fake-host.js';
import { hostScript } from '../support/run-script.js';

let host: FakeHost | undefined;
afterEach(() => host?.dispose());

/** Calls one function of lib/compose.sh the way a host script does, after sourcing common.sh. */
function call(fn: string, args: string[], containers: Record<string, FakeContainer> = {}, volumes: Parameters<FakeHost['setVolumes']>[0] = {}) {
  host = new FakeHost(containers);
  host.setVolumes(volumes);
  const script = `set -euo pipefail; . "${hostScript('lib/common.sh')}"; . "${hostScript('lib/compose.sh')}"; ${fn} "$@"`;
  const r = spawnSync('bash', ['-c', script, 'compose-test', ...args], { env: host.env(), encoding: 'utf8' });
  return { status: r.status, out: r.stdout.trim().split('\n').filter(Boolean), err: r.stderr.trim() };
}

describe('compose.sh: compose names on the host', () => {
  it('derives the project name from a directory the way compose does', () => {
    // Act
    const names = ['/opt/My App.v2', '/srv/shop/', '/x/_-Weird__Name-', '/opt/sigul'].map((d) => call('compose_project_name', [d]).out[0]);
    // Assess
    expect(names).toEqual(['myappv2', 'shop', 'weird__name-', 'sigul']);
  });

  it('resolves a compose service to every container of a scaled service, by container number', () => {
    // Prepare
    const containers = {
      ...composeContainer('shop', 'worker', 10), ...composeContainer('shop', 'worker', 2), ...composeContainer('shop', 'api', 1),
      ...composeContainer('other', 'worker', 1),
      'shop-worker-run-1': running({ Config: { Labels: { ...composeLabels('shop', 'worker', 1), 'com.docker.compose.oneoff': 'True' } } }),
    };
    // Act
    const all = call('compose_containers', ['shop', 'worker'], containers);
    const second = call('compose_container', ['shop', 'worker', '10'], containers);
    const first = call('compose_container', ['shop', 'worker'], containers);
    // Assess
    expect(all).toMatchObject({ status: 0, out: ['shop-worker-2', 'shop-worker-10'] });
    expect(second.out).toEqual(['shop-worker-10']);
    expect(first.out).toEqual(['shop-worker-2']);
  });

  it('accepts a literal container name', () => {
    // Act
    const r = call('compose_containers', ['shop', 'legacy_db'], { legacy_db: running(), ...composeContainer('shop', 'api') });
    // Assess
    expect(r).toMatchObject({ status: 0, out: ['legacy_db'] });
  });

  it('fails when nothing resolves, saying what it looked for and which services exist', () => {
    // Act
    const r = call('compose_containers', ['shop', 'apii'], { ...composeContainer('shop', 'api'), ...composeContainer('shop', 'db') });
    // Assess
    expect(r.status).toBe(1);
    expect(r.out).toEqual([]);
    expect(r.err).toContain("looked for compose service 'apii' of project 'shop'");
    expect(r.err).toContain("services of project 'shop': api, db");
  });

  it('fails when the project has no containers, naming the projects on the host', () => {
    // Act
    const r = call('compose_containers', ['shopp', 'api'], { ...composeContainer('shop', 'api'), ...composeContainer('blog', 'web') });
    // Assess
    expect(r.status).toBe(1);
    expect(r.err).toContain("no containers of project 'shopp' (projects here: blog, shop)");
  });

  it('resolves a compose volume key by its labels, by <project>_<key>, or literally', () => {
    // Prepare
    const volumes = { ...composeVolume('shop', 'data', '/v/a'), custom_name: { Mountpoint: '/v/b', Labels: { 'com.docker.compose.project': 'shop', 'com.docker.compose.volume': 'uploads' } }, shop_cache: '/v/c', external: '/v/d' };
    // Act
    const names = ['data', 'uploads', 'cache', 'external'].map((k) => call('compose_volume', ['shop', k], {}, volumes).out[0]);
    // Assess
    expect(names).toEqual(['shop_data', 'custom_name', 'shop_cache', 'external']);
  });

  it('fails when a volume does not resolve, listing the project\'s volumes', () => {
    // Act
    const r = call('compose_volume', ['shop', 'dta'], {}, { ...composeVolume('shop', 'data', '/v/a') });
    // Assess
    expect(r.status).toBe(1);
    expect(r.err).toContain("looked for compose volume 'dta' of project 'shop' (label com.docker.compose.volume=dta), for 'shop_dta' and for a volume named 'dta'; found volumes of project 'shop': shop_data");
  });

  it('still answers when a container listed a moment ago is gone by the time it is inspected (compose recreating a service)', () => {
    // Prepare: `docker ps` lists a container that inspect no longer finds (inspect prints the others and exits 1)
    const containers = { ...composeContainer('shop', 'api'), ...composeContainer('blog', 'web') };
    const race = mkdtempSync(join(tmpdir(), 'compose-race-'));
    writeFileSync(join(race, 'docker'), `#!/bin/bash\nif [ "$1" = ps ]; then "${FAKE_BIN}/docker" "$@"; echo gone_container; exit 0; fi\nexec "${FAKE_BIN}/docker" "$@"\n`, { mode: 0o755 });
    const withRace = (fn: string, args: string[]) => {
      host = new FakeHost(containers);
      const env = host.env();
      const script = `set -euo pipefail; . "${hostScript('lib/common.sh')}"; . "${hostScript('lib/compose.sh')}"; ${fn} "$@"`;
      const r = spawnSync('bash', ['-c', script, 'compose-test', ...args], { env: { ...env, PATH: `${race}:${env.PATH}` }, encoding: 'utf8' });
      host.dispose();
      return { status: r.status, out: r.stdout.trim().split('\n').filter(Boolean) };
    };
    // Act
    const projects = withRace('compose_projects', []);
    const api = withRace('compose_containers', ['shop', 'api']);
    const dir = withRace('compose_workdir', ['shop']);
    rmSync(race, { recursive: true, force: true });
    // Assess
    expect(projects).toEqual({ status: 0, out: ['blog', 'shop'] });
    expect(api).toEqual({ status: 0, out: ['shop-api-1'] });
    expect(dir).toEqual({ status: 0, out: ['/srv/shop'] });
  });

  it('reads the working directory and compose files from the labels', () => {
    // Prepare
    const containers = composeContainer('shop', 'api');
    // Act
    const dir = call('compose_workdir', ['shop'], containers);
    const files = call('compose_config_files', ['shop'], containers);
    const missing = call('compose_workdir', ['nope'], containers);
    // Assess
    expect(dir.out).toEqual(['/srv/shop']);
    expect(files.out).toEqual(['/srv/shop/docker-compose.yml']);
    expect(missing.status).toBe(1);
    expect(missing.err).toContain("no working directory for compose project 'nope'");
  });
});
