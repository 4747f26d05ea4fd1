import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { FleetConfig, type Fleet } from '../../lib/config/schema.js';
import { InputError, zodProblems } from './errors.js';
import { FLEET_FILE } from '../../lib/runbooks/names.js';


/**
 * The fleet config the stack was synthesized with, read from the function's own asset (no
 * process argument or environment limit applies to its size) and validated once per cold
 * start. SHIPSHAPE_FLEET_FILE or SHIPSHAPE_FLEET (JSON) stand in for it in tests.
 */
export function bundledFleet(): Fleet {
  const file = process.env.SHIPSHAPE_FLEET_FILE ?? fileURLToPath(new URL(`./${FLEET_FILE}`, import.meta.url));
  const raw = existsSync(file) ? readFileSync(file, 'utf8') : process.env.SHIPSHAPE_FLEET;
  if (!raw) throw new InputError(`no fleet config: ${file} is missing from this function's bundle`);
  const r = FleetConfig.safeParse(JSON.parse(raw));
  if (!r.success) throw new InputError('bundled fleet config is invalid', zodProblems(r.error));
  return r.data;
}
