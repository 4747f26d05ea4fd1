/**
 * Reads a fleet config file (YAML or JSON), validates it and reports every problem
 * with its path, so that `cdk synth` fails with a message a user can act on.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { FleetConfig, type Fleet } from './schema.js';

export class FleetConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`Invalid fleet config ${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'FleetConfigError';
  }
}

/** `stacks[1].services[0].http[0].url` from zod's path array. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out === '' ? '(top level)' : out;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const where = formatPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    return `${where}: unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')} (check the spelling against schema/fleet.schema.json)`;
  }
  // zod leaves `input` out of issues; its default message says what it received.
  if (issue.code === 'invalid_type' && /received undefined$/.test(issue.message)) {
    return `${where}: is required (expected ${issue.expected})`;
  }
  return `${where}: ${issue.message}`;
}

/** Validates an already parsed document. */
export function parseFleet(doc: unknown, source = 'fleet config'): Fleet {
  const result = FleetConfig.safeParse(doc);
  if (!result.success) throw new FleetConfigError(source, result.error.issues.map(describeIssue));
  return result.data;
}

/** Parses YAML or JSON text (JSON is YAML) and validates it. */
export function parseFleetText(text: string, source = 'fleet config'): Fleet {
  let doc: unknown;
  try {
    doc = parseYaml(text, { prettyErrors: true, uniqueKeys: true });
  } catch (err) {
    const msg = err instanceof YAMLParseError ? err.message : String(err);
    throw new FleetConfigError(source, [`not valid YAML/JSON: ${msg}`]);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new FleetConfigError(source, ['(top level): expected a mapping with "fleet", "stacks" and "alerts"']);
  }
  return parseFleet(doc, source);
}

export function loadFleetFile(path: string): Fleet {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new FleetConfigError(path, [`cannot read the file: ${(err as Error).message}. Pass another with -c fleet=path/to/fleet.yaml`]);
  }
  return parseFleetText(text, path);
}
