import { parseFleet } from '../../lib/config/load.js';
import type { Fleet, FleetConfigInput } from '../../lib/config/schema.js';

export const EXAMPLES = ['grahmos', 'sigul', 'sigil-dna', 'fdts', 'digitalme'] as const;

/** A small valid fleet input; tests change one thing at a time. */
export function fleetInput(): FleetConfigInput {
  return {
    fleet: 'demo',
    alerts: { recipients: [{ email: 'ops@example.com', severities: ['critical', 'warning'] }, { email: 'lead@example.com', severities: ['critical'] }] },
    stacks: [
      {
        name: 'web',
        hosts: { tag: { key: 'Role', value: 'web' } },
        composeDir: '/opt/web',
        services: [
          { name: 'api', container: 'web-api-1', http: [{ url: 'http://127.0.0.1:8080/health', maxLatencyMs: 500 }], process: [{ pattern: 'node server' }] },
          { name: 'db', container: 'web-db-1', tcp: [{ host: '127.0.0.1', port: 5432 }] },
        ],
      },
      {
        name: 'batch',
        hosts: { instanceIds: ['i-0123456789abcdef0'] },
        schedules: { healthCheck: { cron: '0 9 * * ? *', timezone: 'Europe/Berlin' } },
        services: [{ name: 'worker', container: 'batch-worker-1', critical: false }],
      },
    ],
  };
}

export function demoFleet(mutate?: (f: FleetConfigInput) => void): Fleet {
  const input = fleetInput();
  mutate?.(input);
  return parseFleet(input, 'test fleet');
}
