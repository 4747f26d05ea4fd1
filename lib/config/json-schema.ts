import * as z from 'zod';
import { FleetConfig } from './schema.js';

/** JSON Schema (draft 2020-12) of the config file as users write it, for editor completion. */
export function fleetSchemaJson(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(FleetConfig, { io: 'input', unrepresentable: 'any' }),
    $id: 'https://shipshape.dev/schema/fleet.schema.json',
    title: 'shipshape fleet config',
    description: 'One file that describes a fleet of Docker-compose hosts for shipshape. Generated from lib/config/schema.ts by `npm run schema`.',
  };
}
