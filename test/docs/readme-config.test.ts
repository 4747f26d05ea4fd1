/**
 * The README's config reference against the schema: every key it shows exists, and every key
 * of the schema is shown. The reference is the YAML blocks of the "## Config reference"
 * section; a sub-object documented once (a schedule, thresholds, a recipient, a log scan) counts
 * for every place the same shape appears, so its keys need not be repeated everywhere.
 */
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { fleetSchemaJson } from '../../lib/config/json-schema.js';

type Schema = { [key: string]: unknown; properties?: Record<string, Schema>; items?: Schema; additionalProperties?: Schema | boolean; anyOf?: Schema[]; oneOf?: Schema[]; allOf?: Schema[] };

const SECTION = '## Config reference';

/** The YAML blocks of the config reference, parsed (comments are not documentation of a key). */
export function referenceBlocks(readme: string): unknown[] {
  const start = readme.indexOf(`\n${SECTION}\n`);
  if (start < 0) throw new Error(`README has no "${SECTION}" section`);
  const rest = readme.slice(start + SECTION.length + 2);
  const section = rest.slice(0, rest.search(/\n## /) < 0 ? undefined : rest.search(/\n## /));
  return [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].flatMap((m) => parseAllDocuments(m[1]!).map((d) => {
    if (d.errors.length) throw new Error(`a YAML block of the config reference does not parse: ${d.errors[0]!.message}`);
    return d.toJS() as unknown;
  }));
}

/** Dotted key paths of a YAML value; array items share their array's path; "..." is a placeholder. */
export function documentedPaths(value: unknown, path = '', out = new Set<string>()): Set<string> {
  if (Array.isArray(value)) {
    for (const item of value) documentedPaths(item, path, out);
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === '...') continue;
      const p = path ? `${path}.${k}` : k;
      out.add(p);
      documentedPaths(v, p, out);
    }
  }
  return out;
}

/** The object alternatives of a schema node (unions and arrays unwrapped). */
function objects(s: Schema | undefined): Schema[] {
  if (!s || typeof s !== 'object') return [];
  const out: Schema[] = [];
  for (const alt of [...(s.anyOf ?? []), ...(s.oneOf ?? []), ...(s.allOf ?? [])]) out.push(...objects(alt));
  if (s.items) out.push(...objects(s.items));
  if (s.properties || (s.additionalProperties && typeof s.additionalProperties === 'object')) out.push(s);
  return out;
}

/** Children of a schema node: its keys, or "*" for a record's values. */
function children(s: Schema): Map<string, Schema[]> {
  const out = new Map<string, Schema[]>();
  for (const o of objects(s)) {
    for (const [k, v] of Object.entries(o.properties ?? {})) out.set(k, [...(out.get(k) ?? []), v]);
    if (o.additionalProperties && typeof o.additionalProperties === 'object') out.set('*', [...(out.get('*') ?? []), o.additionalProperties]);
  }
  return out;
}

/** A node's shape without its text and defaults, to find the same sub-object elsewhere. */
function shape(nodes: Schema[]): string {
  return JSON.stringify(nodes, (k, v: unknown) => (k === 'description' || k === 'default' || k === 'title' ? undefined : v));
}

export interface Comparison { readonly undocumented: string[]; readonly unknown: string[] }

export function compare(schema: Schema, documented: Set<string>): Comparison {
  // Every node of the schema by path, and its shape.
  const nodes = new Map<string, Schema[]>();
  const visit = (path: string, at: Schema[]) => {
    nodes.set(path, at);
    const merged = new Map<string, Schema[]>();
    for (const s of at) for (const [k, v] of children(s)) merged.set(k, [...(merged.get(k) ?? []), ...v]);
    for (const [k, v] of merged) visit(path ? `${path}.${k}` : k, v);
  };
  visit('', [schema]);
  // A documented path may name a record entry by any key: map it onto "*".
  const normal = new Set<string>();
  for (const p of documented) {
    let known = '';
    for (const part of p.split('.')) {
      const next = known ? `${known}.${part}` : part;
      const star = known ? `${known}.*` : '*';
      known = nodes.has(next) ? next : nodes.has(star) ? star : next;
    }
    normal.add(known);
  }
  const unknown = [...normal].filter((p) => !nodes.has(p)).sort();
  // Documented keys of each shape, wherever that shape was documented.
  const keysOfShape = new Map<string, Set<string>>();
  for (const [path, at] of nodes) {
    if (path !== '' && !normal.has(path)) continue;
    const sh = shape(at);
    for (const k of children(at.length === 1 ? at[0]! : { anyOf: at }).keys()) {
      if (normal.has(path ? `${path}.${k}` : k)) keysOfShape.set(sh, new Set([...(keysOfShape.get(sh) ?? []), k]));
    }
  }
  const undocumented: string[] = [];
  for (const [path, at] of nodes) {
    if (path !== '' && !normal.has(path)) continue;
    const documentedKeys = keysOfShape.get(shape(at)) ?? new Set<string>();
    for (const k of children(at.length === 1 ? at[0]! : { anyOf: at }).keys()) {
      if (!documentedKeys.has(k)) undocumented.push(path ? `${path}.${k}` : k);
    }
  }
  return { undocumented: undocumented.sort(), unknown };
}

const readme = readFileSync('README.md', 'utf8');
const documented = new Set(referenceBlocks(readme).flatMap((b) => [...documentedPaths(b)]));
const schema = fleetSchemaJson() as Schema;

describe('README config reference', () => {
  it('documents only keys the schema has', () => {
    // Act
    const { unknown } = compare(schema, documented);
    // Assess
    expect(unknown, 'keys in the README\'s config reference that lib/config/schema.ts does not have (fix the README)').toEqual([]);
  });

  it('documents every key of the schema', () => {
    // Act
    const { undocumented } = compare(schema, documented);
    // Assess
    expect(undocumented, 'schema keys missing from the YAML blocks of the README\'s "Config reference" (add each where its parent is shown)').toEqual([]);
  });

  it('fails when a key is missing or unknown (the comparison itself)', () => {
    // Prepare
    const sched = { type: 'object', properties: { cron: { type: 'string' }, timezone: { type: 'string' } } };
    const toy: Schema = { type: 'object', properties: {
      a: { type: 'object', properties: { schedule: sched, keep: { type: 'number' } } },
      b: { type: 'array', items: { type: 'object', properties: { schedule: { ...sched, description: 'same shape' }, tags: { type: 'object', additionalProperties: { type: 'object', properties: { n: { type: 'number' } } } } } } },
    } };
    // Act
    const result = compare(toy, documentedPaths({ a: { schedule: { cron: 'x', timezone: 'UTC' } }, b: [{ schedule: {}, tags: { anything: { n: 1 } }, typo: 1 }] }));
    // Assess
    expect(result).toEqual({ undocumented: ['a.keep'], unknown: ['b.typo'] });
  });
});
