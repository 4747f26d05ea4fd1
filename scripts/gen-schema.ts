import { mkdirSync, writeFileSync } from 'node:fs';
import { fleetSchemaJson } from '../lib/config/json-schema.js';

mkdirSync('schema', { recursive: true });
writeFileSync('schema/fleet.schema.json', JSON.stringify(fleetSchemaJson(), null, 2) + '\n');
console.log('wrote schema/fleet.schema.json');
