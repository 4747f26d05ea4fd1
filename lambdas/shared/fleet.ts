import { FleetConfig, type Fleet } from '../../lib/config/schema.js';
import { InputError, zodProblems } from './errors.js';

// esbuild replaces this identifier with the fleet JSON at bundle time (see lib/constructs/function.ts).
declare const __SHIPSHAPE_FLEET__: string | undefined;

/** The fleet config the stack was synthesized with, validated once per cold start. */
export function bundledFleet(): Fleet {
  const raw = typeof __SHIPSHAPE_FLEET__ === 'string' ? __SHIPSHAPE_FLEET__ : process.env.SHIPSHAPE_FLEET;
  if (!raw) throw new InputError('no fleet config was bundled with this function');
  const r = FleetConfig.safeParse(JSON.parse(raw));
  if (!r.success) throw new InputError('bundled fleet config is invalid', zodProblems(r.error));
  return r.data;
}
