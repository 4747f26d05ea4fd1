/**
 * Compose as the engine sees it, for the fake docker: the labels docker compose (v2) puts on
 * the containers and volumes it creates, and the names it gives them.
 */
import { chmodSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FakeContainer } from './fake-host.js';
import { running } from './fake-host.js';

export function composeLabels(project: string, service: string, number = 1, workdir = `/srv/${project}`): Record<string, string> {
  return {
    'com.docker.compose.project': project,
    'com.docker.compose.service': service,
    'com.docker.compose.container-number': String(number),
    'com.docker.compose.oneoff': 'False',
    'com.docker.compose.project.working_dir': workdir,
    'com.docker.compose.project.config_files': `${workdir}/docker-compose.yml`,
  };
}

/** A running container of a compose service, named <project>-<service>-<n> as compose v2 names it. */
export function composeContainer(project: string, service: string, number = 1, extra: Partial<FakeContainer> = {}): Record<string, FakeContainer> {
  return { [`${project}-${service}-${number}`]: running({ ...extra, Config: { ...extra.Config, Labels: composeLabels(project, service, number) } }) };
}

/** A named volume as compose creates it: <project>_<key>, labelled with the project and key. */
export function composeVolume(project: string, key: string, mountpoint: string): Record<string, { Mountpoint: string; Labels: Record<string, string> }> {
  return { [`${project}_${key}`]: { Mountpoint: mountpoint, Labels: { 'com.docker.compose.project': project, 'com.docker.compose.volume': key } } };
}

/** Puts the stand-in docker-compose (fake_compose.py) in <bin>; see that file for its environment. */
export function installFakeCompose(bin: string): void {
  const target = join(bin, 'docker-compose');
  copyFileSync(fileURLToPath(new URL('./fake_compose.py', import.meta.url)), target);
  chmodSync(target, 0o755);
}
