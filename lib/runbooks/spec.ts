/**
 * Stack specs as data: one small text file per stack, stored under specs/v1/ in the output
 * bucket and fetched by the SSM agent (aws:downloadContent) when a document runs. Documents
 * therefore stay the same size whatever the number of stacks.
 *
 * Format 1, tab-separated, one record a line:
 *   shipshape-spec<TAB>1            header: the format; scripts refuse any other
 *   stack<TAB><name>
 *   section<TAB><runbook>           the lines below belong to that runbook, up to the next section
 *   <kind><TAB><field>...           records of the runbook (see lib/host-scripts/<runbook>.sh)
 * No field may hold a tab, newline, carriage return or NUL, so a field can never become a
 * record, a section or shell; hosts read the file with `read`/awk and never evaluate it.
 */
import type { Fleet, Stack } from '../config/schema.js';
import { backupSpecLines } from './backup.js';
import { composeSpecLines } from './compose.js';
import { healthCheckSpecLines } from './health-check.js';
import { integritySpecLines } from './integrity.js';
import { maintenanceSpecLines } from './maintenance.js';
import { secretsSpecLines } from './secrets.js';

export const SPEC_FORMAT = 1;
export const SPEC_HEADER = `shipshape-spec\t${SPEC_FORMAT}`;
/** Where specs live in the output bucket; the version is part of the key. */
export const SPEC_PREFIX = `specs/v${SPEC_FORMAT}/`;
/** Where aws:downloadContent puts the spec, relative to the command's downloads directory. */
export const SPEC_DOWNLOAD_DIR = 'shipshape-spec/';

export const SPEC_SECTIONS = ['compose', 'health-check', 'backup', 'integrity', 'maintenance', 'secrets'] as const;
export type SpecSection = (typeof SPEC_SECTIONS)[number];
export type SpecLines = readonly (readonly (string | number | boolean)[])[];

export function specKey(stack: string): string {
  return `${SPEC_PREFIX}${stack}.spec`;
}

function field(f: string | number | boolean): string {
  const s = typeof f === 'boolean' ? (f ? '1' : '0') : String(f);
  if (/[\t\n\r\0]/.test(s)) throw new Error(`spec field ${JSON.stringify(s)} contains a tab, newline, carriage return or NUL`);
  return s;
}

/** The spec file text for one stack from its sections' records. */
export function encodeSpec(stack: string, sections: Partial<Record<SpecSection, SpecLines>>): string {
  const lines = [SPEC_HEADER, `stack\t${field(stack)}`];
  for (const name of SPEC_SECTIONS) {
    const records = sections[name];
    if (!records) continue;
    lines.push(`section\t${name}`);
    for (const r of records) {
      if (r.length === 0) continue;
      const kind = field(r[0]!);
      if (kind === 'section' || kind === 'stack' || kind === 'shipshape-spec') throw new Error(`spec record kind "${kind}" is reserved`);
      lines.push(r.map(field).join('\t'));
    }
  }
  return lines.join('\n') + '\n';
}

/** Everything the hosts of one stack need, for every runbook the stack uses. */
export function stackSpec(fleet: Fleet, stack: Stack): string {
  return encodeSpec(stack.name, {
    compose: composeSpecLines(stack),
    'health-check': healthCheckSpecLines(fleet, stack),
    ...(stack.backup ? { backup: backupSpecLines(stack.backup) } : {}),
    ...(stack.integrity ? { integrity: integritySpecLines(stack, stack.integrity) } : {}),
    ...(stack.maintenance ? { maintenance: maintenanceSpecLines(stack.maintenance) } : {}),
    ...(stack.secrets.length ? { secrets: secretsSpecLines(fleet, stack) } : {}),
  });
}

/** Key to file text for every stack of the fleet. */
export function fleetSpecs(fleet: Fleet): Map<string, string> {
  return new Map(fleet.stacks.map((s) => [specKey(s.name), stackSpec(fleet, s)]));
}
