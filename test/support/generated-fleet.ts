/**
 * Generated fleets for the limits test and the scale bench: every feature on, and every name
 * as long as the schema allows, so whatever grows with names or stacks shows up.
 */
import { parseFleet } from '../../lib/config/load.js';
import type { Fleet, FleetConfigInput } from '../../lib/config/schema.js';

/** A name of exactly `len` characters (schema: lower-case, digits, "-", at most 40), unique by `i`. */
export function longName(prefix: string, i: number, len = 40): string {
  const tail = `-${i.toString(36)}`;
  return (prefix + 'x'.repeat(len)).slice(0, len - tail.length) + tail;
}

export function generatedFleetInput(stacks: number, services = 5): FleetConfigInput {
  const fleet = 'f'.repeat(40);
  const tz = ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata'];
  return {
    fleet,
    description: `generated: ${stacks} stacks x ${services} services, every feature on`,
    alerts: {
      recipients: [
        { email: 'oncall@example.com', severities: ['critical'] },
        { email: 'team@example.com', severities: ['critical', 'warning'] },
        { sms: '+4915112345678', severities: ['critical'] },
        { https: 'https://alerts.example.com/shipshape', severities: ['critical', 'warning', 'info'] },
        { sqs: 'arn:aws:sqs:eu-central-1:111122223333:ops-alerts', severities: ['warning'] },
      ],
      // The one-level form: the design before issue 10 reads it too (bench/scale.ts).
      escalation: { afterMinutes: 15, recipients: [{ email: 'lead@example.com' }] },
      maintenance: [{ name: 'weekly', days: ['sun'], start: '02:00', durationMinutes: 120, timezone: 'Europe/Berlin' }],
    },
    console: { approvers: ['arn:aws:iam::111122223333:role/OnCallLead'], approve: ['restore', 'restart-service', 'rotate-secret-now', 'rollback-secret'] },
    backupStorage: { objectLock: { mode: 'governance', days: 30 } },
    stacks: Array.from({ length: stacks }, (_, i) => {
      const name = longName('stack', i);
      const svc = (j: number) => longName(`svc${j}`, j);
      return {
        name,
        hosts: i % 2 ? { tag: { key: 'shipshape:stack', value: name } } : { instanceIds: ['i-0123456789abcdef0', 'mi-0123456789abcdef0'] },
        composeDir: `/opt/${name}`,
        schedules: { healthCheck: { cron: `${i % 15}/15 * * * ? *`, timezone: tz[i % tz.length]! } },
        services: Array.from({ length: services }, (_, j) => ({
          name: svc(j),
          container: `${name}-${svc(j)}-1`,
          http: [{ name: 'health', url: `http://127.0.0.1:${8000 + j}/health?probe=deep&stack=${name}`, maxLatencyMs: 1000 }],
          tcp: [{ host: '127.0.0.1', port: 9000 + j }],
          process: [{ pattern: `/usr/local/bin/${svc(j)} --serve` }],
          memoryMiB: { warning: 1024, critical: 2048 },
          remediation: { restart: true },
        })),
        backup: {
          schedule: { cron: '0 2 * * ? *', timezone: tz[i % tz.length]! },
          volumes: [{ name: `${name}_data` }],
          paths: [{ name: 'uploads', path: `/opt/${name}/uploads` }],
          sqlite: [{ name: 'db', container: `${name}-${svc(0)}-1`, path: '/data/app.sqlite' }],
          postgres: [{ name: 'pg', container: `${name}-${svc(1)}-1`, database: 'app' }],
          stop: [`${name}-${svc(2)}-1`],
          hooks: { pre: [{ container: `${name}-${svc(0)}-1`, command: ['/bin/true'] }] },
          maxAgeHours: 36,
        },
        integrity: {
          sqlite: [{ name: 'db', container: `${name}-${svc(0)}-1`, path: '/data/app.sqlite' }],
          certificates: [{ name: 'tls', tls: { host: '127.0.0.1', port: 443, serverName: 'example.com' } }],
          connectivity: [{ name: 'db', from: `${name}-${svc(0)}-1`, host: 'db', port: 5432 }],
          files: [{ path: `/opt/${name}/.env`, mode: '0600' }],
        },
        maintenance: { sqlite: [{ name: 'db', container: `${name}-${svc(0)}-1`, path: '/data/app.sqlite' }], prune: { images: true, containers: true } },
        secrets: [{ name: longName('secret', i), envFile: `/opt/${name}/.env`, variable: 'APP_SECRET', previousVariable: 'APP_SECRET_PREVIOUS', restart: [svc(0)] }],
      };
    }),
  };
}

export function generatedFleet(stacks: number, services = 5): Fleet {
  return parseFleet(generatedFleetInput(stacks, services), `generated fleet of ${stacks} stacks`);
}
