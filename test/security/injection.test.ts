/**
 * Hostile strings in every string input a user or caller controls: the config file, the
 * dispatch event and the document parameters. Each must be refused before anything runs;
 * a canary file that every payload tries to create proves that no command ran.
 */
import { fleetSpecs } from '../../lib/runbooks/spec.js';
import { specFile } from '../support/spec-file.js';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DispatchEvent } from '../../lambdas/dispatcher/dispatch.js';
import { FleetConfigError, parseFleet } from '../../lib/config/load.js';
import { healthCheckSpecLines } from '../../lib/runbooks/health-check.js';
import { documentsOf, InvalidParametersError, resolveParameters, runDocument, type CommandDocument } from '../support/document-runner.js';
import { FakeHost, running } from '../support/fake-host.js';
import { demoFleet, fleetInput } from '../support/fleets.js';
import { runHostScript } from '../support/run-script.js';
import { synthFleet } from '../support/synth.js';

const CANARY = join(mkdtempSync(join(tmpdir(), 'canary-')), 'pwned');
const T = `touch ${CANARY}`;

export const HOSTILE: string[] = [
  `; ${T}`, `$(${T})`, `\`${T}\``, `| ${T}`, `&& ${T}`, `|| ${T}`, `\n${T}`, `\r\n${T}`, `web\n${T}`,
  `' ; ${T} ; '`, `" ; ${T} ; "`, `web'; ${T}; echo '`, `$(printf x)`, '${IFS}id', `\${IFS}${T.replace(/ /g, '${IFS}')}`,
  '*', '?', '[a-z]*', '../../etc/passwd', '/etc/passwd', '--help', '-rf', '--output=/tmp/x', `> ${CANARY}`, '< /etc/passwd',
  '$HOME', '$((1+1))', '!!', '~root', '#', 'a b', '\t', 'web\u0000', '%0a' + T, '{{ Stack }}', '{{ssm:/secret}}',
  'x'.repeat(5000), 'ｗｅｂ', 'web;', `web&${T}`, '$', '`',
];

beforeAll(() => expect(HOSTILE.length).toBeGreaterThanOrEqual(30));
afterAll(() => expect(existsSync(CANARY), 'a hostile string ran a command').toBe(false));

/**
 * What a field may accept from the list above, and why that is safe. No config value is
 * ever read by a shell: the probe spec reaches hosts base64-encoded and each value is
 * passed to docker, pgrep, curl or grep as one argument (after "--" where it could look
 * like an option). Any other hostile string getting through fails the test.
 */
const PATHS = ['../../etc/passwd', '/etc/passwd'];
const OPTIONS = ['--help', '-rf', '--output=/tmp/x'];
const INERT: Record<string, string[]> = {
  // Used by df only.
  'stacks[0].composeDir': ['/etc/passwd'],
  // Sent to the SSM API as target values, never to a host.
  'stacks[0].hosts.tag.value': [...PATHS, ...OPTIONS, 'a b'],
  'stacks[0].hosts.tag.key': [...PATHS, ...OPTIONS, 'a b'],
  // pgrep -f -- <pattern>.
  'stacks[0].services[0].process[0].pattern': [...PATHS, 'a b'],
  // Appended to http://127.0.0.1/ by the test: legal URL paths, passed to curl as one argument.
  'stacks[0].services[0].http[0].url': ['?', ...PATHS, ...OPTIONS, '~root', '#'],
  // Alert labels only.
  'stacks[0].services[0].http[0].name': [...PATHS, '--help', '-rf', 'a b'],
  // grep -ciE -e <pattern>: regex syntax has to be allowed.
  'stacks[0].logs.pattern': [`| ${T}`, `|| ${T}`, '*', '?', '[a-z]*', ...PATHS, ...OPTIONS, '~root', '#', 'a b', '%0a' + T, '{{ Stack }}', '{{ssm:/secret}}', 'ｗｅｂ'],
};

type Field = { path: string; set: (f: any, v: string) => void };
const CONFIG_FIELDS: Field[] = [
  { path: 'fleet', set: (f, v) => (f.fleet = v) },
  { path: 'stacks[0].name', set: (f, v) => (f.stacks[0].name = v) },
  { path: 'stacks[0].composeDir', set: (f, v) => (f.stacks[0].composeDir = v) },
  { path: 'stacks[0].hosts.tag.value', set: (f, v) => (f.stacks[0].hosts.tag.value = v) },
  { path: 'stacks[0].hosts.tag.key', set: (f, v) => (f.stacks[0].hosts.tag.key = v) },
  { path: 'stacks[1].hosts.instanceIds[0]', set: (f, v) => (f.stacks[1].hosts.instanceIds = [v]) },
  { path: 'stacks[0].services[0].name', set: (f, v) => (f.stacks[0].services[0].name = v) },
  { path: 'stacks[0].services[0].container', set: (f, v) => (f.stacks[0].services[0].container = v) },
  { path: 'stacks[0].services[0].process[0].pattern', set: (f, v) => (f.stacks[0].services[0].process[0].pattern = v) },
  { path: 'stacks[0].services[0].http[0].url', set: (f, v) => (f.stacks[0].services[0].http[0].url = `http://127.0.0.1/${v}`) },
  { path: 'stacks[0].services[0].http[0].name', set: (f, v) => (f.stacks[0].services[0].http[0].name = v) },
  { path: 'stacks[0].services[1].tcp[0].host', set: (f, v) => (f.stacks[0].services[1].tcp[0].host = v) },
  { path: 'stacks[0].logs.pattern', set: (f, v) => (f.stacks[0].logs = { pattern: v }) },
  { path: 'stacks[1].schedules.healthCheck.timezone', set: (f, v) => (f.stacks[1].schedules.healthCheck.timezone = v) },
  { path: 'stacks[1].schedules.healthCheck.cron', set: (f, v) => (f.stacks[1].schedules.healthCheck.cron = v) },
  { path: 'alerts.recipients[0].email', set: (f, v) => (f.alerts.recipients[0].email = v) },
];

function accepted(field: Field, value: string): boolean {
  const input = fleetInput() as any;
  field.set(input, value);
  try {
    parseFleet(input);
    return true;
  } catch (err) {
    expect(err).toBeInstanceOf(FleetConfigError);
    return false;
  }
}

describe('hostile strings', () => {
  it.each(CONFIG_FIELDS.map((f) => [f.path, f] as const))('are refused in the config at %s', (_path, field) => {
    const through = HOSTILE.filter((v) => accepted(field, v));
    expect(through).toEqual(INERT[field.path] ?? []);
  });

  it('are refused in every field of the dispatch event', () => {
    for (const field of ['runbook', 'stack', 'runId', 'trigger'] as const) {
      for (const v of HOSTILE) {
        const event = { runbook: 'health-check', stack: 'web', [field]: v };
        expect(DispatchEvent.safeParse(event).success, `${field}=${JSON.stringify(v)}`).toBe(false);
      }
    }
  });

  describe('in document parameters', () => {
    let doc: CommandDocument;
    let host: FakeHost;
    const specs = fleetSpecs(demoFleet());
    beforeAll(() => {
      doc = Object.values(documentsOf(synthFleet(demoFleet()).template.toJSON() as never)).find((d) => d.mainSteps.at(-1)!.name === 'healthCheck')!;
      host = new FakeHost({ 'web-api-1': running(), 'web-db-1': running() });
    });
    afterAll(() => host.dispose());

    it.each(['Stack', 'RunId', 'ExecutionTimeout'])('are refused by the allowed values or pattern of %s, and nothing runs', async (param) => {
      // Prepare
      const base = { Stack: 'web', RunId: 'run-1', ExecutionTimeout: '60' };
      for (const v of HOSTILE) {
        // Act
        const run = runDocument(doc, { ...base, [param]: v }, { env: host.env(), specs });
        // Assess
        await expect(run, `${param}=${JSON.stringify(v).slice(0, 60)}`).rejects.toThrow(InvalidParametersError);
      }
      expect(host.calls()).toEqual([]);
    });

    it('still run the document when every parameter is valid (the runner is not refusing everything)', async () => {
      expect(resolveParameters(doc, { Stack: 'web' })).toEqual({ Stack: 'web', RunId: 'manual', ExecutionTimeout: '300' });
      const run = await runDocument(doc, { Stack: 'web', RunId: 'run-1' }, { env: host.env(), specs });
      expect(run.status).toBe('Success');
      expect(JSON.parse(run.stdout).stack).toBe('web');
      expect(host.calls().length).toBeGreaterThan(0);
    });
  });

  it('reach the host tools as plain data where a field accepts them', async () => {
    // Prepare: one service per accepted log pattern, one probe per accepted process pattern and URL
    const host = new FakeHost();
    const patterns = INERT['stacks[0].logs.pattern']!;
    const containers = Object.fromEntries(patterns.map((_, i) => [`svc-${i}`, running({ logs: `| ${T}\nerror\n`, processes: ['sleep 1'] })]));
    host.setContainers(containers);
    const fleet = demoFleet((f) => {
      f.stacks[0]!.composeDir = host.dir;
      f.stacks[0]!.services = patterns.map((pattern, i) => ({
        name: `svc-${i}`, container: `svc-${i}`, logs: { pattern },
        process: i === 0 ? INERT['stacks[0].services[0].process[0].pattern']!.map((p) => ({ pattern: p })) : [],
        http: i === 0 ? INERT['stacks[0].services[0].http[0].url']!.map((u) => ({ url: `http://127.0.0.1:9/${u}`, timeoutSeconds: 1 })) : [],
      }));
    });
    // Act
    const run = await runHostScript('health-check.sh', host.env({ SHIPSHAPE_STACK: 'web', SHIPSHAPE_SPEC_FILE: specFile({ 'health-check': healthCheckSpecLines(fleet, fleet.stacks[0]!) }) }));
    // Assess: every value arrived as one argument, and nothing ran
    expect(run.json.containers).toHaveLength(patterns.length);
    // "| touch …" reached grep as a regex whose empty alternative matches both log lines.
    expect(run.json.containers[0].errorLines).toBe(2);
    const execs = host.calls().filter((c) => c[0] === 'exec').map((c) => c.slice(-1)[0]);
    // Probes run concurrently, so in any order.
    expect([...execs].sort()).toEqual([...INERT['stacks[0].services[0].process[0].pattern']!].sort());
    expect(existsSync(CANARY)).toBe(false);
    host.dispose();
  });
});
