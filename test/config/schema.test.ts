import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cronProblem, rateProblem } from '../../lib/config/cron.js';
import { FleetConfigError, loadFleetFile, parseFleet, parseFleetText } from '../../lib/config/load.js';
import { healthSchedule, stackThresholds } from '../../lib/config/resolve.js';
import { fleetSchemaJson } from '../../lib/config/json-schema.js';
import { EXAMPLES, fleetInput } from '../support/fleets.js';

function problemsOf(mutate: (f: any) => void): string[] {
  const input = fleetInput() as any;
  mutate(input);
  try {
    parseFleet(input, 'test');
  } catch (err) {
    if (err instanceof FleetConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('example fleets', () => {
  it.each(EXAMPLES)('config/%s.yaml validates and has at least one probe per stack', (name) => {
    // Act
    const fleet = loadFleetFile(`config/${name}.yaml`);
    // Assess
    expect(fleet.fleet).toBe(name);
    for (const stack of fleet.stacks) {
      const probes = stack.services.flatMap((s) => [...s.http, ...s.tcp, ...s.process]);
      expect(probes.length, `${name}/${stack.name}`).toBeGreaterThan(0);
    }
  });

  it('the default example (cdk.json) is the one with the most probes', () => {
    // Prepare
    const counts = EXAMPLES.map((n) => {
      const f = loadFleetFile(`config/${n}.yaml`);
      return { n, probes: f.stacks.flatMap((s) => s.services.flatMap((v) => [...v.http, ...v.tcp, ...v.process])).length };
    });
    const richest = counts.sort((a, b) => b.probes - a.probes)[0]!.n;
    // Act
    const cdkJson = JSON.parse(readFileSync('cdk.json', 'utf8'));
    // Assess
    expect(cdkJson.context.fleet).toBe(`config/${richest}.yaml`);
  });

  it('every example points editors at the generated JSON Schema', () => {
    for (const name of EXAMPLES) {
      expect(readFileSync(`config/${name}.yaml`, 'utf8')).toContain('$schema=../schema/fleet.schema.json');
    }
  });

  it('the committed JSON Schema matches the zod schema (run npm run schema after changes)', () => {
    const committed = JSON.parse(readFileSync('schema/fleet.schema.json', 'utf8'));
    expect(committed).toEqual(fleetSchemaJson());
  });
});

describe('defaults', () => {
  it('stack thresholds override fleet defaults, which override built-ins', () => {
    // Prepare
    const fleet = parseFleet({
      ...fleetInput(),
      defaults: { thresholds: { diskPercent: { warning: 70, critical: 80 } } },
    });
    fleet.stacks[0]!.thresholds = { diskPercent: { warning: 60 } };
    // Act
    const web = stackThresholds(fleet, fleet.stacks[0]!);
    const batch = stackThresholds(fleet, fleet.stacks[1]!);
    // Assess
    expect(web.diskPercent).toEqual({ warning: 60 });
    expect(batch.diskPercent).toEqual({ warning: 70, critical: 80 });
    expect(batch.memoryPercent).toEqual({ warning: 85, critical: 95 });
  });

  it('a stack without a schedule runs every 15 minutes in UTC', () => {
    const fleet = parseFleet(fleetInput());
    expect(healthSchedule(fleet, fleet.stacks[0]!)).toMatchObject({ cron: '*/15 * * * ? *', timezone: 'UTC' });
    expect(healthSchedule(fleet, fleet.stacks[1]!)).toMatchObject({ cron: '0 9 * * ? *', timezone: 'Europe/Berlin' });
  });
});

// Each malformed config must fail, and the message must name the path of the mistake.
const MALFORMED: [string, (f: any) => void, string, RegExp][] = [
  ['bad HTTP URL', (f) => (f.stacks[1].services[0].http = [{ url: 'ftp://x' }]), 'stacks[1].services[0].http[0].url', /http:\/\/ or https:\/\//],
  ['URL with a space', (f) => (f.stacks[0].services[0].http[0].url = 'http://a b/'), 'stacks[0].services[0].http[0].url', /percent-encode/],
  ['shell in a container name', (f) => (f.stacks[0].services[0].container = 'api;rm -rf /'), 'stacks[0].services[0].container', /Docker container name/],
  ['option-like process pattern', (f) => (f.stacks[0].services[0].process[0].pattern = '-v'), 'stacks[0].services[0].process[0].pattern', /not starting with "-"/],
  ['$() in a process pattern', (f) => (f.stacks[0].services[0].process[0].pattern = '$(id)'), 'stacks[0].services[0].process[0].pattern', /letters, digits/],
  ['port out of range', (f) => (f.stacks[0].services[1].tcp[0].port = 70000), 'stacks[0].services[1].tcp[0].port', /65535/],
  ['TCP host with a space', (f) => (f.stacks[0].services[1].tcp[0].host = 'db host'), 'stacks[0].services[1].tcp[0].host', /host name/],
  ['upper-case stack name', (f) => (f.stacks[0].name = 'Web'), 'stacks[0].name', /lower-case/],
  ['duplicate stack names', (f) => (f.stacks[1].name = 'web'), 'stacks[1].name', /duplicate stack name "web"/],
  ['duplicate service names', (f) => (f.stacks[0].services[1].name = 'api'), 'stacks[0].services[1].name', /duplicate service name/],
  ['bad instance ID', (f) => (f.stacks[1].hosts = { instanceIds: ['i-xyz'] }), 'stacks[1].hosts.instanceIds[0]', /EC2 instance ID/],
  ['tag and instance IDs together', (f) => (f.stacks[0].hosts.instanceIds = ['i-0123456789abcdef0']), 'stacks[0].hosts', /exactly one of/],
  ['cron with 5 fields', (f) => (f.stacks[1].schedules.healthCheck.cron = '0 9 * * *'), 'stacks[1].schedules.healthCheck.cron', /expected 6 fields/],
  ['cron without ?', (f) => (f.stacks[1].schedules.healthCheck.cron = '0 9 * * * *'), 'stacks[1].schedules.healthCheck.cron', /must be "\?"/],
  ['cron hour 25', (f) => (f.stacks[1].schedules.healthCheck.cron = '0 25 * * ? *'), 'stacks[1].schedules.healthCheck.cron', /out of range 0-23/],
  ['unknown time zone', (f) => (f.stacks[1].schedules.healthCheck.timezone = 'Mars/Olympus'), 'stacks[1].schedules.healthCheck.timezone', /IANA time zone/],
  ['cron and rate together', (f) => (f.stacks[1].schedules.healthCheck.rate = '5 minutes'), 'stacks[1].schedules.healthCheck', /exactly one of "cron"/],
  ['warning above critical', (f) => (f.stacks[0].thresholds = { diskPercent: { warning: 95, critical: 90 } }), 'stacks[0].thresholds.diskPercent', /warning must not be higher/],
  ['percent over 100', (f) => (f.stacks[0].thresholds = { memoryPercent: { warning: 120 } }), 'stacks[0].thresholds.memoryPercent.warning', /100/],
  ['misspelled key', (f) => (f.stacks[0].services[0].helth = true), 'stacks[0].services[0]', /unknown key "helth"/],
  ['bad email', (f) => (f.alerts.recipients[0].email = 'not-an-email'), 'alerts.recipients[0].email', /email/i],
  ['recipient with two channels', (f) => (f.alerts.recipients[0].sms = '+4915112345678'), 'alerts.recipients[0]', /exactly one of "email"/],
  ['unknown severity', (f) => (f.alerts.recipients[0].severities = ['urgent']), 'alerts.recipients[0].severities[0]', /critical|warning|info/],
  ['stack without services', (f) => (f.stacks[1].services = []), 'stacks[1].services', /at least one service/],
  ['relative compose dir', (f) => (f.stacks[0].composeDir = 'opt/web'), 'stacks[0].composeDir', /absolute path/],
  ['compose dir with ..', (f) => (f.stacks[0].composeDir = '/opt/../etc'), 'stacks[0].composeDir', /absolute path/],
  ['log pattern with a tab', (f) => (f.stacks[0].logs = { pattern: 'a\tb' }), 'stacks[0].logs.pattern', /printable characters/],
  ['missing fleet name', (f) => delete f.fleet, 'fleet', /is required/],
  ['a port that is text', (f) => (f.stacks[0].services[1].tcp[0].port = '5432'), 'stacks[0].services[1].tcp[0].port', /expected number, received string/],
  ['unsupported log retention', (f) => (f.defaults = { logRetentionDays: 10 }), 'defaults.logRetentionDays', /retention periods/],
  ['volume prune asked for', (f) => (f.stacks[0].maintenance = { prune: { volumes: true } }), 'stacks[0].maintenance.prune.volumes', /volume prune deletes data and shipshape never does it/],
  ['database maintenance without a backup', (f) => (f.stacks[0].maintenance = { sqlite: [{ name: 'db', container: 'web-db-1', path: '/data/db' }] }), 'stacks[0].maintenance.sqlite', /only after a verified backup/],
  ['a certificate with two sources', (f) => (f.stacks[0].integrity = { certificates: [{ name: 'c', file: '/a.pem', tls: { host: 'a', port: 443 } }] }), 'stacks[0].integrity.certificates[0]', /exactly one of "file", "nss" or "tls"/],
  ['a secret with both an env file and a file', (f) => (f.stacks[0].secrets = [{ name: 'jwt', envFile: '/a/.env', variable: 'JWT', file: '/a/jwt.key' }]), 'stacks[0].secrets[0].file', /exactly one of envFile \(with variable\) or file/],
  ['a secret env file without a variable', (f) => (f.stacks[0].secrets = [{ name: 'jwt', envFile: '/a/.env' }]), 'stacks[0].secrets[0].variable', /is required with envFile/],
  ['a secret file with previousVariable', (f) => (f.stacks[0].secrets = [{ name: 'jwt', file: '/a/jwt.key', previousVariable: 'OLD' }]), 'stacks[0].secrets[0].previousVariable', /with file, use previousFile/],
  ['a secret restarting an unknown service', (f) => (f.stacks[0].secrets = [{ name: 'jwt', file: '/a/jwt.key', restart: ['nope'] }]), 'stacks[0].secrets[0].restart[0]', /no service named "nope"/],
  ['a key pair for an env file', (f) => (f.stacks[0].secrets = [{ name: 'jwt', envFile: '/a/.env', variable: 'JWT', generator: { keyPair: {} } }]), 'stacks[0].secrets[0].generator', /use "file" instead of envFile/],
  ['two kinds of generator', (f) => (f.stacks[0].secrets = [{ name: 'jwt', file: '/a/k', generator: { bytes: 32, keyPair: {} } }]), 'stacks[0].secrets[0].generator', /one kind of generator/],
];

describe('malformed configs', () => {
  it.each(MALFORMED)('fails when %s, naming the path', (_name, mutate, path, message) => {
    // Act
    const problems = problemsOf(mutate);
    // Assess
    const hit = problems.find((p) => p.startsWith(`${path}: `));
    expect(hit, `expected a problem at ${path}, got:\n${problems.join('\n')}`).toBeDefined();
    expect(hit).toMatch(message);
  });

  it('fails when the file is not YAML, with the parser message', () => {
    expect(() => parseFleetText('fleet: [unclosed', 'x.yaml')).toThrow(/not valid YAML\/JSON/);
  });

  it('fails when the file does not exist, saying how to choose another', () => {
    expect(() => loadFleetFile('config/nope.yaml')).toThrow(/-c fleet=/);
  });

  it('reports every problem at once, not only the first', () => {
    const problems = problemsOf((f) => {
      f.stacks[0].name = 'BAD';
      f.stacks[1].services[0].container = '../x';
    });
    expect(problems.length).toBeGreaterThanOrEqual(2);
  });
});

describe('cron and rate expressions', () => {
  it.each(['0 9 * * ? *', '*/15 * * * ? *', '0 2 ? * SUN *', '30 1 1 * ? *', '0 8-18/2 ? * MON-FRI *', '0 0 L * ? 2027'])('accepts %s', (cron) => {
    expect(cronProblem(cron)).toBeNull();
  });
  it.each(['* * * * *', '60 * * * ? *', '0 9 * * MON *', '0 9 ? * ? *', 'a b c d e f'])('fails when the cron is %s', (cron) => {
    expect(cronProblem(cron)).not.toBeNull();
  });
  it('accepts rates in the singular and plural forms AWS wants', () => {
    expect(rateProblem('1 hour')).toBeNull();
    expect(rateProblem('5 minutes')).toBeNull();
    expect(rateProblem('1 hours')).toMatch(/write "1 hour"/);
    expect(rateProblem('every day')).toMatch(/expected/);
  });
});
