/**
 * The README's coverage table ("What the seed runbooks asked for") against the examples: every
 * "automated" row names keys that its seed's example really sets, every "declined" row says why.
 * And the examples' log scans: each reads at least the time between two runs of its health check.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadFleetFile } from '../../lib/config/load.js';
import { maxGapMinutes } from '../../lib/config/cron.js';
import { healthSchedule, serviceLogs } from '../../lib/config/resolve.js';
import { EXAMPLES } from '../support/fleets.js';

const SEED_EXAMPLES: Record<string, (typeof EXAMPLES)[number]> = { Sigul: 'sigul', Grahmos: 'grahmos', FDTS: 'fdts', DigitalMe: 'digitalme', 'Sigil-DNA': 'sigil-dna' };
const HEADING = '## What the seed runbooks asked for, and where it lives';

interface Row { readonly line: number; readonly seed: string; readonly procedure: string; readonly status: string; readonly where: string }

/** Table cells split on unescaped pipes (`\|` stays inside a cell, as in GitHub's tables). */
function cells(line: string): string[] {
  return line.trim().replace(/^\||\|$/g, '').split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, '|'));
}

export function coverageRows(readme: string): Row[] {
  const lines = readme.split('\n');
  const start = lines.indexOf(HEADING);
  if (start < 0) throw new Error(`README has no "${HEADING}" section`);
  const rows: Row[] = [];
  for (let i = start + 1; i < lines.length && !lines[i]!.startsWith('## '); i++) {
    const line = lines[i]!;
    if (!line.startsWith('|') || /^\|\s*-/.test(line) || /^\|\s*seed\s*\|/.test(line)) continue;
    const [seed = '', procedure = '', status = '', where = ''] = cells(line);
    rows.push({ line: i + 1, seed, procedure, status, where });
  }
  return rows;
}

/** Key paths named in a cell: `stacks[].backup.drill`, `defaults.logs`; text in parentheses is a note. */
export function keyPaths(cell: string): string[] {
  return [...cell.replace(/\([^()]*\)/g, '').matchAll(/`([^`]+)`/g)].map((m) => m[1]!).filter((k) => /^[A-Za-z$][\w$]*(\[\])?(\.[A-Za-z$][\w$]*(\[\])?)*$/.test(k));
}

/** Whether the raw document (as written, before defaults) sets the key path. */
export function hasPath(doc: unknown, path: string): boolean {
  const [head, ...rest] = path.split('.');
  const array = head!.endsWith('[]');
  const key = array ? head!.slice(0, -2) : head!;
  if (typeof doc !== 'object' || doc === null || !(key in doc)) return false;
  const value = (doc as Record<string, unknown>)[key];
  if (array) return Array.isArray(value) && value.some((item) => rest.length === 0 || hasPath(item, rest.join('.')));
  return rest.length === 0 ? value !== undefined && value !== null : hasPath(value, rest.join('.'));
}

const readme = readFileSync('README.md', 'utf8');
const rows = coverageRows(readme);
const examples = Object.fromEntries(EXAMPLES.map((n) => [n, parseYaml(readFileSync(`config/${n}.yaml`, 'utf8')) as unknown]));

describe('README coverage table', () => {
  it('lists procedures of every seed runbook, each automated or declined', () => {
    // Assess
    expect(new Set(rows.map((r) => r.seed))).toEqual(new Set(Object.keys(SEED_EXAMPLES)));
    expect(rows.filter((r) => r.status !== 'automated' && r.status !== 'declined').map((r) => `line ${r.line}: "${r.status}"`)).toEqual([]);
    expect(rows.filter((r) => r.procedure === '' || r.where === '').map((r) => `line ${r.line}`)).toEqual([]);
  });

  it('names, for every automated row, keys that the seed\'s example sets', () => {
    // Act
    const problems = rows.filter((r) => r.status === 'automated').flatMap((r) => {
      const example = SEED_EXAMPLES[r.seed]!;
      const keys = keyPaths(r.where);
      if (keys.length === 0) return [`line ${r.line} (${r.seed}: ${r.procedure}): no config key named`];
      return keys.filter((k) => !hasPath(examples[example], k)).map((k) => `line ${r.line} (${r.seed}: ${r.procedure}): config/${example}.yaml does not set ${k}`);
    });
    // Assess
    expect(problems).toEqual([]);
  });

  it('fails when a row names a key its example lacks (the checker itself)', () => {
    // Prepare
    const doc = { stacks: [{ name: 'a' }, { name: 'b', backup: { drill: { cron: 'x' } } }], defaults: { logs: {} } };
    // Assess
    expect(hasPath(doc, 'stacks[].backup.drill')).toBe(true);
    expect(hasPath(doc, 'defaults.logs')).toBe(true);
    expect(hasPath(doc, 'stacks[].maintenance')).toBe(false);
    expect(hasPath(doc, 'alerts.escalation')).toBe(false);
    expect(keyPaths('`stacks[].backup` (restore runbook with `Sources`), `defaults.logs`, `docker ps`')).toEqual(['stacks[].backup', 'defaults.logs']);
  });
});

describe('example log scans', () => {
  it.each(EXAMPLES)('config/%s.yaml reads at least the time between two health checks', (name) => {
    // Prepare
    const fleet = loadFleetFile(`config/${name}.yaml`);
    // Act
    const short = fleet.stacks.flatMap((stack) => {
      const gap = maxGapMinutes(healthSchedule(fleet, stack));
      return stack.services.filter((svc) => serviceLogs(fleet, stack, svc).windowMinutes < gap)
        .map((svc) => `${stack.name}/${svc.name}: ${serviceLogs(fleet, stack, svc).windowMinutes} min of logs, health check every ${gap} min`);
    });
    // Assess
    expect(short).toEqual([]);
  });
});
