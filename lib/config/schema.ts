/**
 * The fleet config: one file a user edits to describe their Docker hosts.
 * Depends on zod alone, so the CDK app and the Lambdas share it.
 */
import * as z from 'zod';
import { cronProblem, rateProblem } from './cron.js';
import * as P from './patterns.js';

function pattern(re: RegExp, hint: string) {
  return z.string().regex(re, { error: (iss) => `must be ${hint}; got ${JSON.stringify(iss.input)}` });
}

/** Retention periods CloudWatch Logs accepts. */
export const LOG_RETENTION_DAYS: readonly number[] = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

export const SEVERITIES = ['critical', 'warning', 'info'] as const;
export const Severity = z.enum(SEVERITIES);
export type Severity = z.infer<typeof Severity>;

const Name = pattern(P.NAME, P.NAME_HINT);

/** A warning/critical pair; either may be left out. */
function thresholdPair(unit: string, max?: number) {
  const n = max === undefined ? z.number().nonnegative() : z.number().min(0).max(max);
  return z
    .strictObject({
      warning: n.optional().describe(`Warn at or above this ${unit}.`),
      critical: n.optional().describe(`Critical at or above this ${unit}.`),
    })
    .refine((t) => t.warning === undefined || t.critical === undefined || t.warning <= t.critical, {
      error: 'warning must not be higher than critical (e.g. { warning: 80, critical: 90 })',
    });
}
export type ThresholdPair = { warning?: number | undefined; critical?: number | undefined };

export const Schedule = z
  .strictObject({
    cron: z
      .string()
      .optional()
      .describe('EventBridge Scheduler cron body, 6 fields: "minutes hours day-of-month month day-of-week year".'),
    rate: z.string().optional().describe('Alternative to cron: "N minutes", "N hours" or "N days".'),
    timezone: z
      .string()
      .default('UTC')
      .refine(P.isIanaTimeZone, { error: (iss) => `must be an IANA time zone such as "Europe/Berlin" or "UTC"; got ${JSON.stringify(iss.input)}` })
      .describe('IANA time zone the cron is read in.'),
    enabled: z.boolean().default(true),
  })
  .superRefine((s, ctx) => {
    if ((s.cron === undefined) === (s.rate === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'give exactly one of "cron" (e.g. "0 9 * * ? *") or "rate" (e.g. "15 minutes")' });
      return;
    }
    const problem = s.cron !== undefined ? cronProblem(s.cron) : rateProblem(s.rate!);
    if (problem) ctx.addIssue({ code: 'custom', path: [s.cron !== undefined ? 'cron' : 'rate'], message: problem });
  });
export type Schedule = z.infer<typeof Schedule>;

const HttpProbe = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9 _.:\/-]{1,64}$/).optional().describe('Label in alerts; defaults to the URL.'),
  url: pattern(P.URL_CHARS, P.URL_HINT).max(2048).refine((u) => URL.canParse(u), { error: 'must be a URL that parses (check the host and port)' }),
  expectStatus: z.union([z.number().int().min(100).max(599), z.array(z.number().int().min(100).max(599)).min(1)]).default(200),
  maxLatencyMs: z.number().int().positive().optional().describe('Warn when the response takes longer.'),
  timeoutSeconds: z.number().int().min(1).max(60).default(10),
  insecure: z.boolean().default(false).describe('Accept self-signed TLS certificates (curl -k), as the seeds do for https://localhost.'),
});
export type HttpProbe = z.infer<typeof HttpProbe>;

const TcpProbe = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9 _.:\/-]{1,64}$/).optional(),
  host: pattern(P.HOSTNAME, P.HOSTNAME_HINT),
  port: z.number().int().min(1).max(65535),
  timeoutSeconds: z.number().int().min(1).max(60).default(5),
});
export type TcpProbe = z.infer<typeof TcpProbe>;

const ProcessProbe = z.strictObject({
  pattern: pattern(P.PROCESS_PATTERN, P.PROCESS_PATTERN_HINT).describe('Matched with `pgrep -f` inside the container.'),
});
export type ProcessProbe = z.infer<typeof ProcessProbe>;

const LogScan = z.strictObject({
  pattern: pattern(P.LOG_PATTERN, P.LOG_PATTERN_HINT)
    .default('error|fatal|panic|exception')
    .describe('Case-insensitive extended regex counted in `docker logs --since`.'),
  windowMinutes: z.number().int().min(1).max(10080).default(60),
  lines: thresholdPair('number of matching lines').default({ warning: 1 }),
});

/** Restarts between two health checks: a crash loop shows here even when the container happens to be up. */
export const BUILTIN_RESTARTS: ThresholdPair = { warning: 1, critical: 3 };

const Service = z.strictObject({
  name: Name.describe('Service name as used in alerts; also the compose service when "container" is left out.'),
  container: pattern(P.CONTAINER, P.CONTAINER_HINT).optional()
    .describe('The compose service as written in docker-compose.yml (all its containers when scaled), or a literal container name (docker ps --format {{.Names}}). Defaults to "name".'),
  critical: z.boolean().default(true).describe('A down container is critical (true) or a warning (false).'),
  dockerHealth: z.boolean().default(true).describe('Alert when the container HEALTHCHECK reports unhealthy.'),
  process: z.array(ProcessProbe).default([]),
  http: z.array(HttpProbe).default([]),
  tcp: z.array(TcpProbe).default([]),
  memoryMiB: thresholdPair('container memory in MiB').optional(),
  restarts: thresholdPair('number of restarts since the previous health check').optional()
    .describe('Crash loops: restarts between two health checks (RestartCount and last start time); default warning 1, critical 3.'),
  logs: LogScan.optional().describe('Overrides the stack or fleet log scan for this container.'),
  remediation: z
    .strictObject({
      restart: z.boolean().default(false).describe('Restart the container when it is down or unhealthy.'),
      maxRestarts: z.number().int().min(1).max(20).default(3).describe('At most this many restarts per window; then alert instead.'),
      windowMinutes: z.number().int().min(5).max(1440).default(60),
      backoffMinutes: z.number().int().min(1).max(240).default(5).describe('Pause after a restart, doubling with each one in the window.'),
    })
    .optional()
    .describe('Guarded auto-remediation; off by default.'),
}).transform((s) => ({ ...s, container: s.container ?? s.name }));
export type Service = z.infer<typeof Service>;

const Thresholds = z.strictObject({
  diskPercent: thresholdPair('percent used', 100).optional().describe('Used space of / and the Docker data root.'),
  memoryPercent: thresholdPair('percent used', 100).optional(),
  cpuPercent: thresholdPair('percent busy', 100).optional(),
  loadPerCpu: thresholdPair('1-minute load per CPU').optional(),
});
export type Thresholds = z.infer<typeof Thresholds>;

const HostSelector = z
  .strictObject({
    tag: z.strictObject({ key: pattern(P.TAG, P.TAG_HINT), value: pattern(P.TAG, P.TAG_HINT) }).optional(),
    instanceIds: z.array(pattern(P.INSTANCE_ID, P.INSTANCE_ID_HINT)).min(1).max(1000).optional(),
  })
  .refine((h) => (h.tag === undefined) !== (h.instanceIds === undefined), {
    error: 'give exactly one of "tag: { key, value }" or "instanceIds: [...]"',
  });

const Dispatch = z.strictObject({
  maxConcurrency: z.string().regex(/^([1-9][0-9]{0,3}|[1-9][0-9]?%|100%)$/, { error: 'must be a count ("50") or a percentage ("10%")' }).default('10%'),
  maxErrors: z.string().regex(/^([0-9]{1,4}|[0-9]{1,2}%|100%)$/, { error: 'must be a count ("5") or a percentage ("10%")' }).default('25%'),
  timeoutSeconds: z.number().int().min(30).max(2592000).default(600).describe('Time a command may wait to start plus run.'),
  executionTimeoutSeconds: z.number().int().min(30).max(172800).default(300).describe('Time the script may run on a host.'),
});

const BackupSourceName = z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/, { error: 'must be lower-case letters, digits and _ . -, at most 63 characters (it names the archive)' });

const Backup = z
  .strictObject({
    schedule: Schedule.default({ cron: '0 2 * * ? *', timezone: 'UTC', enabled: true }),
    compression: z.enum(['zstd', 'gzip']).default('zstd').describe('zstd -T0 by default; gzip where zstd cannot be installed.'),
    level: z.number().int().min(1).max(19).default(1).describe('Compression level. 1 by default: measured 0.73x the time of level 3 for archives within 1 % of its size on mixed data (bench/results/stages.md); raise it for very compressible data when CPU is cheaper than storage.'),
    volumes: z.array(z.strictObject({ name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, { error: 'must be a Docker volume name' }).describe('The volume key as written under volumes: in docker-compose.yml (compose names it <project>_<key>; found through its labels), or a literal Docker volume name.') })).default([]),
    paths: z.array(z.strictObject({ name: BackupSourceName, path: pattern(P.ABS_PATH, P.ABS_PATH_HINT) })).default([]),
    sqlite: z
      .array(z.strictObject({
        name: BackupSourceName,
        container: pattern(P.CONTAINER, P.CONTAINER_HINT),
        path: pattern(P.ABS_PATH, P.ABS_PATH_HINT).describe('Database path inside the container.'),
        runIn: z.enum(['host', 'container']).default('host').describe('Where sqlite3 runs: "host" (default) runs the host\'s sqlite3 on the database file through its volume or bind mount, so the image needs no sqlite3 (WAL included; a database in the container\'s writable layer is refused); "container" runs `timeout N sqlite3` inside the container.'),
      }))
      .default([]),
    postgres: z
      .array(z.strictObject({
        name: BackupSourceName,
        container: pattern(P.CONTAINER, P.CONTAINER_HINT),
        database: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, { error: 'must be a PostgreSQL database name of letters, digits and _' }),
        user: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, { error: 'must be a PostgreSQL role name of letters, digits and _' }).default('postgres'),
      }))
      .default([])
      .describe('pg_dump -Fc inside the container (a consistent snapshot without stopping anything).'),
    stop: z.array(pattern(P.CONTAINER, P.CONTAINER_HINT)).default([]).describe('Containers stopped for the copy (LevelDB, NSS), started again in this order whatever happens.'),
    stopTimeoutSeconds: z.number().int().min(1).max(600).default(60).describe('docker stop -t: how long a container may take to shut down cleanly.'),
    hooks: z
      .strictObject({
        pre: z.array(z.strictObject({ container: pattern(P.CONTAINER, P.CONTAINER_HINT), command: z.array(pattern(P.HOOK_ARG, P.HOOK_ARG_HINT)).min(1).max(20) })).default([]),
        post: z.array(z.strictObject({ container: pattern(P.CONTAINER, P.CONTAINER_HINT), command: z.array(pattern(P.HOOK_ARG, P.HOOK_ARG_HINT)).min(1).max(20) })).default([]),
      })
      .prefault({}),
    exclude: z.array(pattern(P.EXCLUDE, P.EXCLUDE_HINT)).default([]).describe('tar --exclude patterns for volumes and paths.'),
    fullEvery: z.number().int().min(1).max(90).default(7).describe('Volumes and paths: a full archive every N-th run, a differential (only what changed since that full, GNU tar --listed-incremental) in between; 1 = every run is a full. A full is also taken when the excludes change, the last differential grew past half the full, or the full is not verified.'),
    retention: z
      .strictObject({
        keepLast: z.number().int().min(1).max(1000).default(3),
        daily: z.number().int().min(0).max(3650).default(7),
        weekly: z.number().int().min(0).max(520).default(4),
        monthly: z.number().int().min(0).max(120).default(6),
      })
      .prefault({}),
    sizeDropPercent: z.number().min(1).max(100).default(50).describe('Warn when an archive is this much smaller than the median of recent ones.'),
    maxAgeHours: z.number().int().min(1).max(2160).default(48).describe('Alarm when no verified backup is newer than this.'),
    timeoutMinutes: z.number().int().min(5).max(1440).default(180).describe('How long one backup may run on a host.'),
    drill: Schedule.default({ cron: '0 5 ? * SUN *', timezone: 'UTC', enabled: true }).describe('Restore drill of the newest verified backup, in scratch space.'),
  })
  .superRefine((b, ctx) => {
    if (b.volumes.length + b.paths.length + b.sqlite.length + b.postgres.length === 0) {
      ctx.addIssue({ code: 'custom', message: 'a backup needs at least one of "volumes", "paths", "sqlite" or "postgres"' });
    }
    const names = [...b.volumes.map((v) => v.name), ...b.paths.map((p) => p.name), ...b.sqlite.map((s) => s.name), ...b.postgres.map((s) => s.name)];
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup) ctx.addIssue({ code: 'custom', message: `two sources are named "${dup}"; each archive needs its own name` });
  });
export type Backup = z.infer<typeof Backup>;

const CertDays = {
  warningDays: z.number().int().min(1).max(3650).default(30),
  criticalDays: z.number().int().min(0).max(3650).default(7),
  expectName: pattern(P.HOSTNAME, P.HOSTNAME_HINT).optional().describe('Alert when the certificate does not cover this name (CN/SAN, wildcards count). Same as expectNames with one name.'),
  expectNames: z.array(pattern(P.HOSTNAME, P.HOSTNAME_HINT)).min(1).max(50).optional().describe('Every name the certificate must cover (CN/SAN, wildcards count); each missing one is reported.'),
};
const Integrity = z
  .strictObject({
    schedule: Schedule.default({ cron: '0 3 ? * SUN *', timezone: 'UTC', enabled: true }),
    sqlite: z.array(z.strictObject({
      name: BackupSourceName, container: pattern(P.CONTAINER, P.CONTAINER_HINT), path: pattern(P.ABS_PATH, P.ABS_PATH_HINT),
      mode: z.enum(['integrity', 'quick']).default('integrity').describe('quick_check is much faster on big files and skips index consistency.'),
      runIn: z.enum(['host', 'container']).default('host').describe('Where sqlite3 runs: "host" (default) runs the host\'s sqlite3 on the database file through its volume or bind mount (no sqlite3 needed in the image); "container" runs it inside the container.'),
    })).default([]),
    certificates: z.array(z.strictObject({
      name: BackupSourceName,
      file: pattern(P.ABS_PATH, P.ABS_PATH_HINT).optional().describe('PEM file, on the host or (with container) inside a container.'),
      container: pattern(P.CONTAINER, P.CONTAINER_HINT).optional(),
      nss: z.strictObject({ dir: z.string().regex(/^(sql:)?\/[A-Za-z0-9._\/-]{1,200}$/, { error: 'must be an NSS database directory such as "sql:/etc/pki/sigul"' }), nickname: z.string().regex(/^[A-Za-z0-9 ._:@-]{1,128}$/) }).optional(),
      tls: z.strictObject({ host: pattern(P.HOSTNAME, P.HOSTNAME_HINT), port: z.number().int().min(1).max(65535), serverName: pattern(P.HOSTNAME, P.HOSTNAME_HINT).optional() }).optional(),
      ...CertDays,
    }).refine((c) => [c.file, c.nss, c.tls].filter(Boolean).length === 1, { error: 'give exactly one of "file", "nss" or "tls"' })
      .refine((c) => !c.nss || c.container, { error: 'an NSS database lives in a container: give "container"' })
      .refine((c) => c.warningDays >= c.criticalDays, { error: 'warningDays must not be below criticalDays' })).default([]),
    connectivity: z.array(z.strictObject({
      name: BackupSourceName,
      from: pattern(P.CONTAINER, P.CONTAINER_HINT).optional().describe('Container to test from; the host when left out.'),
      host: pattern(P.HOSTNAME, P.HOSTNAME_HINT), port: z.number().int().min(1).max(65535),
    })).default([]),
    files: z.array(z.strictObject({
      path: pattern(P.ABS_PATH, P.ABS_PATH_HINT), container: pattern(P.CONTAINER, P.CONTAINER_HINT).optional(),
      mode: z.string().regex(/^0?[0-7]{3,4}$/, { error: 'must be an octal mode such as "0600"' }).optional(),
      owner: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/).optional(),
      sha256: z.string().regex(/^[0-9a-f]{64}$/).optional().describe('Alert when the file changed (drift).'),
    })).default([]),
    logMaxMiB: z.number().int().min(1).max(100000).default(500).describe('Warn when a container log file is bigger (and suggest log limits).'),
  });
export type Integrity = z.infer<typeof Integrity>;

const Maintenance = z
  .strictObject({
    schedule: Schedule.default({ cron: '0 2 ? * SUN *', timezone: 'UTC', enabled: true }),
    sqlite: z.array(z.strictObject({
      name: BackupSourceName, container: pattern(P.CONTAINER, P.CONTAINER_HINT), path: pattern(P.ABS_PATH, P.ABS_PATH_HINT),
      operations: z.array(z.enum(['vacuum', 'analyze', 'reindex'])).min(1).default(['vacuum', 'analyze']),
      online: z.boolean().default(false).describe('Run with the service up (only if it tolerates VACUUM locking the database); by default the container is stopped.'),
    })).default([]),
    prune: z
      .strictObject({
        images: z.boolean().default(false).describe('docker image prune -a for images unused for olderThanHours.'),
        containers: z.boolean().default(false).describe('docker container prune for stopped containers older than olderThanHours.'),
        olderThanHours: z.number().int().min(1).max(8760).default(168),
        volumes: z.never({ error: 'volume prune deletes data and shipshape never does it; remove "volumes" (back up and delete volumes by hand)' }).optional(),
      })
      .prefault({}),
  });
export type Maintenance = z.infer<typeof Maintenance>;

const SecretRef = z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, { error: 'must be lower-case letters, digits and "-", at most 40 characters' });
const EnvVar = z.string().regex(/^[A-Z_][A-Z0-9_]{0,63}$/, { error: 'must be an environment variable name such as "JWT_SECRET"' });
const AppSecret = z
  .strictObject({
    name: SecretRef.describe('Names the secret: shipshape/<fleet>/<stack>/<name> unless secretArn adopts one.'),
    secretArn: z.string().regex(/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9\/_+=.@-]+$/, { error: 'must be a Secrets Manager secret ARN' }).optional(),
    generator: z.strictObject({
      bytes: z.number().int().min(16).max(512).optional().describe('Random bytes (default 32).'),
      encoding: z.enum(['hex', 'base64']).optional().describe('How the bytes are written (default hex).'),
      json: z.record(z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/, { error: 'must be a JSON key of letters, digits and "_"' }), z.strictObject({
        bytes: z.number().int().min(16).max(512).default(32),
        encoding: z.enum(['hex', 'base64']).default('hex'),
      })).optional().describe('A JSON object with one random value per key, e.g. { signing: {}, encryption: { bytes: 32 } } (file targets only).'),
      keyPair: z.strictObject({ algorithm: z.enum(['ES256', 'EdDSA']).default('ES256') }).optional()
        .describe('A signing key pair as JSON with a "kid" (the RFC 7638 thumbprint) and the private and public JWK; with previousFile the old key keeps verifying (file targets only).'),
    }).refine((g) => [g.bytes !== undefined || g.encoding !== undefined, g.json !== undefined, g.keyPair !== undefined].filter(Boolean).length <= 1,
      { error: 'give one kind of generator: bytes/encoding, json or keyPair' })
      .prefault({}).describe('New values: random bytes (the default), a JSON of random values, or a key pair.'),
    rotationDays: z.number().int().min(1).max(1000).default(30),
    envFile: pattern(P.ABS_PATH, P.ABS_PATH_HINT).optional().describe('The env file on the hosts (e.g. /opt/app/.env.production); the value goes into `variable`. Give envFile or file.'),
    variable: EnvVar.optional().describe('The variable in envFile.'),
    previousVariable: EnvVar.optional().describe('Keeps the previous value here until the next rotation, so old tokens still verify.'),
    file: pattern(P.ABS_PATH, P.ABS_PATH_HINT).optional().describe('A file on the hosts that holds only the value (e.g. /opt/app/secrets/jwt_secret.key). Give envFile or file.'),
    previousFile: pattern(P.ABS_PATH, P.ABS_PATH_HINT).optional().describe('Keeps the previous value in this file until the next rotation (with file).'),
    graceDays: z.number().int().min(0).max(365).optional().describe('How long the previous value stays valid after a rotation (previousVariable/previousFile); then it is removed from every host (recreate or restart as the delivery needs) and verified. Unset: until the next rotation.'),
    mode: z.string().regex(/^0?[0-7]{3}$/).default('0600'),
    restart: z.array(Name).default([]).describe('Services that receive the secret, in order. The host works out how each receives it: an env file (env_file:/environment:) needs the container recreated (docker compose up -d --no-deps --force-recreate), a bind-mounted file a restart (or nothing with reload "none"); it then checks that each container holds the new value (by hash).'),
    reload: z.enum(['restart', 'none']).default('restart').describe('File secrets: restart the services (default), or "none" when the app rereads the file. Env secrets are always applied by recreating the services.'),
  })
  .superRefine((s, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if (!s.envFile === !s.file) issue(s.file ? 'file' : 'envFile', 'give exactly one of envFile (with variable) or file');
    if (s.envFile && !s.variable) issue('variable', 'is required with envFile: the variable that holds the value, e.g. "JWT_SECRET"');
    if (s.file && (s.variable || s.previousVariable)) issue(s.variable ? 'variable' : 'previousVariable', 'belongs to envFile; with file, use previousFile');
    if (s.envFile && s.previousFile) issue('previousFile', 'belongs to file; with envFile, use previousVariable');
    if (s.envFile && (s.generator.json || s.generator.keyPair)) issue('generator', 'JSON values and key pairs cannot go into an env file: use "file" instead of envFile');
    if (s.variable && s.previousVariable === s.variable) issue('previousVariable', 'previousVariable must differ from variable');
    if (s.file && s.previousFile === s.file) issue('previousFile', 'previousFile must differ from file');
    if (s.graceDays !== undefined && !s.previousVariable && !s.previousFile) issue('graceDays', 'needs previousVariable (envFile) or previousFile (file): without them no previous value is kept');
    if (s.graceDays !== undefined && s.graceDays >= s.rotationDays) issue('graceDays', `must be shorter than rotationDays (${s.rotationDays}): the next rotation replaces the previous value anyway`);
  });
export type AppSecret = z.infer<typeof AppSecret>;

const Stack = z.strictObject({
  name: Name,
  description: z.string().max(200).optional(),
  hosts: HostSelector,
  composeDir: pattern(P.ABS_PATH, P.ABS_PATH_HINT).optional().describe('Directory holding docker-compose.yml on the hosts.'),
  composeProject: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, { error: (iss) => `must be a compose project name (lower-case letters, digits, "_" and "-", starting with a letter or digit); got ${JSON.stringify(iss.input)}` }).optional()
    .describe('The compose project (docker compose -p, COMPOSE_PROJECT_NAME or "name:" in the compose file). Defaults to the name compose derives from composeDir. Service, container and volume names are resolved through its labels.'),
  services: z.array(Service).min(1, { error: 'a stack needs at least one service' }),
  thresholds: Thresholds.optional(),
  logs: LogScan.optional(),
  schedules: z.strictObject({ healthCheck: Schedule.optional() }).default({}),
  dispatch: Dispatch.optional(),
  backup: Backup.optional(),
  integrity: Integrity.optional(),
  maintenance: Maintenance.optional().describe('Scheduled VACUUM/ANALYZE/REINDEX (after a verified backup) and Docker pruning.'),
  secrets: z.array(AppSecret).default([]).describe('Application secrets rotated by Secrets Manager and applied to the hosts.'),
});
export type Stack = z.infer<typeof Stack>;

const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9\/_+=.@-]{1,512}$/;
const ReceiverSecret = (what: string) =>
  z.strictObject({
    secretArn: z.string().regex(SECRET_ARN, { error: (iss) => `must be a Secrets Manager secret ARN holding ${what}; got ${JSON.stringify(iss.input)}` })
      .describe(`Secrets Manager secret whose value is ${what}; it never appears in the config or the template.`),
  });

/** Chat and pager receivers get their own payloads from the notifier function; the secret holds the URL or key. */
export const CHAT_CHANNELS = ['slack', 'teams', 'pagerduty', 'opsgenie'] as const;
export type ChatChannel = (typeof CHAT_CHANNELS)[number];

/** Webhook hosts that cannot confirm an SNS HTTPS subscription, and what to write instead. */
function webhookHint(url: string): string | undefined {
  let host: string;
  try {
    host = new URL(url).hostname.toLowerCase();
  } catch {
    return undefined;
  }
  if (host === 'hooks.slack.com') return 'is a Slack incoming webhook, which cannot confirm an SNS subscription: store the URL in Secrets Manager and write `slack: { secretArn: "arn:aws:secretsmanager:..." }` instead of `https:`';
  if (host.endsWith('.webhook.office.com') || host === 'outlook.office.com' || host.endsWith('.logic.azure.com') || host.endsWith('.powerplatform.com')) {
    return 'is a Microsoft Teams webhook, which cannot confirm an SNS subscription: store the URL in Secrets Manager and write `teams: { secretArn: "arn:aws:secretsmanager:..." }` instead of `https:`';
  }
  if (host === 'events.pagerduty.com') return 'is the PagerDuty Events API: store the routing key in Secrets Manager and write `pagerduty: { secretArn: "..." }` instead of `https:`';
  if (host.endsWith('opsgenie.com')) return 'is the Opsgenie API: store the API key in Secrets Manager and write `opsgenie: { secretArn: "..." }` instead of `https:`';
  return undefined;
}

const CHANNELS = {
  email: z.email().optional(),
  sms: z.string().regex(/^\+[1-9][0-9]{6,14}$/, { error: 'must be an E.164 phone number such as "+4915112345678"' }).optional(),
  https: z
    .url({ protocol: /^https$/ })
    .superRefine((url, ctx) => {
      const hint = webhookHint(url);
      if (hint) ctx.addIssue({ code: 'custom', message: `${url.replace(/\/\/([^/]+)\/.*/, '//$1/...')} ${hint}` });
    })
    .optional()
    .describe('An endpoint that confirms SNS subscriptions and reads the JSON body. Slack, Teams, PagerDuty and Opsgenie have their own keys.'),
  sqs: z.string().regex(/^arn:aws[a-z-]*:sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,80}(\.fifo)?$/, { error: 'must be an SQS queue ARN' }).optional(),
  slack: ReceiverSecret('the Slack incoming webhook URL').optional(),
  teams: ReceiverSecret('the Teams incoming webhook (or workflow) URL').optional(),
  pagerduty: ReceiverSecret('the PagerDuty Events API v2 routing (integration) key').optional(),
  opsgenie: ReceiverSecret('the Opsgenie API (integration) key')
    .extend({ region: z.enum(['us', 'eu']).default('us').describe('Opsgenie instance: api.opsgenie.com (us) or api.eu.opsgenie.com (eu).') })
    .optional(),
};
const CHANNEL_KEYS = ['email', 'sms', 'https', 'sqs', ...CHAT_CHANNELS] as const;
const oneChannel = (r: Partial<Record<(typeof CHANNEL_KEYS)[number], unknown>>) => CHANNEL_KEYS.filter((k) => r[k] !== undefined).length === 1;
const ONE_CHANNEL = { error: 'give exactly one of "email", "sms", "https", "sqs", "slack", "teams", "pagerduty" or "opsgenie"' };

const Recipient = z
  .strictObject({ ...CHANNELS, severities: z.array(Severity).min(1).default(['critical', 'warning']) })
  .refine(oneChannel, ONE_CHANNEL);
/** Escalation recipients receive escalated alerts of their level only. */
const EscalationRecipient = z.strictObject(CHANNELS).refine(oneChannel, ONE_CHANNEL);
export type Recipient = z.infer<typeof Recipient>;
export type Channel = z.infer<typeof EscalationRecipient>;

/** Which channel a recipient uses. */
export function channelOf(r: Channel): (typeof CHANNEL_KEYS)[number] {
  return CHANNEL_KEYS.find((k) => r[k] !== undefined)!;
}
export function isChatChannel(r: Channel): boolean {
  return (CHAT_CHANNELS as readonly string[]).includes(channelOf(r));
}

const SeverityPolicy = (failuresBeforeAlert: number, repeatMinutes: number) =>
  z
    .strictObject({
      failuresBeforeAlert: z.number().int().min(1).max(100).default(failuresBeforeAlert).describe('Consecutive failing runs before the first alert.'),
      repeatMinutes: z.number().int().min(5).max(10080).default(repeatMinutes).describe('Remind while still failing, at most this often.'),
    })
    .prefault({});

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export const MONTH_WEEKS = ['first', 'second', 'third', 'fourth', 'last'] as const;
const MONTH_WEEKDAY = new RegExp(`^(${MONTH_WEEKS.join('|')}) (${WEEKDAYS.join('|')})$`);
const LOCAL_DATETIME = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d$/;
const MaintenanceWindow = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9 _.-]{1,64}$/).optional(),
    days: z.array(z.enum(WEEKDAYS)).min(1).optional().describe('Weekly: days the window starts on. All days when neither days, monthly nor from/until is given.'),
    monthly: z
      .array(z.string().regex(MONTH_WEEKDAY, { error: (iss) => `must be a week of the month and a day such as "first sun" or "last sat"; got ${JSON.stringify(iss.input)}` }))
      .min(1)
      .optional()
      .describe('Monthly: e.g. ["first sun"], ["second tue", "last sat"].'),
    start: z.string().regex(/^([01][0-9]|2[0-3]):[0-5][0-9]$/, { error: 'must be a 24-hour time "HH:MM", e.g. "02:00"' }).optional(),
    durationMinutes: z.number().int().min(1).max(10080).optional(),
    from: z.string().regex(LOCAL_DATETIME, { error: 'must be a local date and time "YYYY-MM-DDTHH:MM", e.g. "2026-12-24T22:00"' }).optional().describe('One-off window: local start.'),
    until: z.string().regex(LOCAL_DATETIME, { error: 'must be a local date and time "YYYY-MM-DDTHH:MM", e.g. "2026-12-25T06:00"' }).optional().describe('One-off window: local end.'),
    timezone: z
      .string()
      .default('UTC')
      .refine(P.isIanaTimeZone, { error: (iss) => `must be an IANA time zone such as "Europe/Berlin" or "UTC"; got ${JSON.stringify(iss.input)}` }),
    stacks: z.array(Name).min(1).optional().describe('Only these stacks; all when left out.'),
    checks: z.array(z.string().regex(/^[a-z]+(\.[a-z*-]+)?$/, { error: 'must be a check such as "container.state" or a family such as "host.*"' })).min(1).optional(),
  })
  .superRefine((w, ctx) => {
    const oneOff = w.from !== undefined || w.until !== undefined;
    if (oneOff) {
      if (w.from === undefined || w.until === undefined) ctx.addIssue({ code: 'custom', path: [w.from === undefined ? 'from' : 'until'], message: 'a one-off window needs both "from" and "until"' });
      else if (w.until <= w.from) ctx.addIssue({ code: 'custom', path: ['until'], message: `must be after "from" (${w.from})` });
      for (const k of ['days', 'monthly', 'start', 'durationMinutes'] as const) {
        if (w[k] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: 'a one-off window (from/until) takes no days, monthly, start or durationMinutes' });
      }
      return;
    }
    if (w.days && w.monthly) ctx.addIssue({ code: 'custom', path: ['monthly'], message: 'give either "days" (weekly) or "monthly", not both' });
    if (w.start === undefined) ctx.addIssue({ code: 'custom', path: ['start'], message: 'is required for a recurring window (or give "from" and "until" for a one-off one)' });
    if (w.durationMinutes === undefined) ctx.addIssue({ code: 'custom', path: ['durationMinutes'], message: 'is required for a recurring window' });
  });
export type MaintenanceWindow = z.infer<typeof MaintenanceWindow>;

const EscalationLevel = z.strictObject({
  afterMinutes: z.number().int().min(0).max(10080).describe('Send to this level when an alert is still open (and not acknowledged) this long after it began; 0: at once.'),
  recipients: z.array(EscalationRecipient).min(1),
  severities: z.array(z.enum(['critical', 'warning'])).min(1).default(['critical']).describe('Which alerts escalate to this level.'),
});
export type EscalationLevel = z.infer<typeof EscalationLevel>;
/** The single level of earlier configs: critical alerts only. */
const LegacyEscalation = z
  .strictObject({
    afterMinutes: z.number().int().min(5).max(10080).describe('Escalate a critical alert still unresolved after this long.'),
    recipients: z.array(EscalationRecipient).min(1),
  })
  .transform((e): EscalationLevel[] => [{ ...e, severities: ['critical'] }]);

const Alerts = z
  .strictObject({
    recipients: z.array(Recipient).default([]),
    timezone: z
      .string()
      .default('UTC')
      .refine(P.isIanaTimeZone, { error: (iss) => `must be an IANA time zone such as "Europe/Berlin" or "UTC"; got ${JSON.stringify(iss.input)}` })
      .describe('Times in messages are shown in this zone (the JSON body keeps UTC).'),
    critical: SeverityPolicy(1, 240),
    warning: SeverityPolicy(2, 1440),
    okBeforeResolve: z.number().int().min(1).max(100).default(1).describe('Consecutive passing runs before RESOLVED; more damps flapping.'),
    escalation: z
      .union([z.array(EscalationLevel).min(1).max(5), LegacyEscalation])
      .optional()
      .describe('Escalation levels, each sent once per alert episode unless acknowledged or resolved first.'),
    acknowledgeHours: z.number().int().min(1).max(168).default(24).describe('How long an acknowledge from the console holds when the alert does not resolve.'),
    maintenance: z.array(MaintenanceWindow).default([]).describe('Weekly, monthly ("first sun") or one-off windows in which nothing is sent.'),
  })
  .prefault({});
export type Alerts = z.infer<typeof Alerts>;

export const FleetConfig = z
  .strictObject({
    $schema: z.string().optional(),
    fleet: Name.describe('Fleet name; hosts must carry the tag shipshape:fleet=<fleet>.'),
    description: z.string().max(500).optional(),
    env: z
      .strictObject({
        account: z.string().regex(/^\d{12}$/).optional(),
        region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/).optional(),
      })
      .optional(),
    defaults: z
      .strictObject({
        thresholds: Thresholds.default({}),
        logs: LogScan.optional(),
        schedules: z.strictObject({ healthCheck: Schedule.optional() }).default({}),
        dispatch: Dispatch.default({ maxConcurrency: '10%', maxErrors: '25%', timeoutSeconds: 600, executionTimeoutSeconds: 300 }),
        outputRetentionDays: z.number().int().min(1).max(3650).default(30),
        logRetentionDays: z
          .number()
          .int()
          .refine((d) => LOG_RETENTION_DAYS.includes(d), { error: `must be one of CloudWatch Logs' retention periods: ${LOG_RETENTION_DAYS.join(', ')}` })
          .default(90),
      })
      .prefault({}),
    stacks: z.array(Stack).min(1, { error: 'a fleet needs at least one stack' }),
    alerts: Alerts,
    console: z
      .strictObject({
        approvers: z.array(z.string().regex(/^arn:aws[a-z-]*:(iam|sts)::\d{12}:(user|role|assumed-role)\/[A-Za-z0-9+=,.@_\/-]+$/, { error: 'must be an IAM user or role ARN' })).default([]),
        approve: z.array(z.enum(['restore', 'restart-service', 'rotate-secret-now', 'rollback-secret', 'rotate-all-secrets'])).default(['restore', 'restart-service', 'rollback-secret', 'rotate-all-secrets']).describe('Console runbooks that wait for an approver (when approvers are given).'),
      })
      .prefault({}),
    backupStorage: z
      .strictObject({
        objectLock: z
          .strictObject({
            mode: z.enum(['governance', 'compliance']).describe('compliance: nobody, root included, can delete before the retention ends.'),
            days: z.number().int().min(1).max(36500),
          })
          .optional()
          .describe('Write-once protection against ransomware; off by default. Can only be chosen when the bucket is created.'),
        infrequentAccessAfterDays: z.number().int().min(30).max(3650).default(30),
        glacierAfterDays: z.number().int().min(31).max(3650).default(90),
        noncurrentDays: z.number().int().min(1).max(3650).default(30).describe('Keep overwritten or deleted versions this long.'),
      })
      .prefault({})
      .refine((b) => b.glacierAfterDays >= b.infrequentAccessAfterDays + 30, {
        // S3 lifecycle: an object stays at least 30 days in STANDARD_IA before a later transition.
        path: ['glacierAfterDays'],
        error: (iss) => `must be at least 30 days after infrequentAccessAfterDays (S3 keeps objects 30 days in STANDARD_IA before the next transition); got ${JSON.stringify((iss.input as { glacierAfterDays?: number }).glacierAfterDays)} after ${JSON.stringify((iss.input as { infrequentAccessAfterDays?: number }).infrequentAccessAfterDays)}`,
      }),
  })
  .superRefine((fleet, ctx) => {
    fleet.stacks.forEach((s, i) => {
      s.secrets.forEach((sec, j) => {
        sec.restart.forEach((svc, k) => {
          if (!s.services.some((v) => v.name === svc)) ctx.addIssue({ code: 'custom', path: ['stacks', i, 'secrets', j, 'restart', k], message: `no service named "${svc}" in stack "${s.name}"` });
        });
      });
      if (s.maintenance?.sqlite.length && !s.backup) {
        ctx.addIssue({ code: 'custom', path: ['stacks', i, 'maintenance', 'sqlite'], message: 'database maintenance runs only after a verified backup: add a "backup" section to this stack' });
      }
    });
    const names = new Set(fleet.stacks.map((s) => s.name));
    fleet.alerts.maintenance.forEach((w, i) => {
      (w.stacks ?? []).forEach((s, j) => {
        if (!names.has(s)) ctx.addIssue({ code: 'custom', path: ['alerts', 'maintenance', i, 'stacks', j], message: `no stack named "${s}" (stacks: ${[...names].join(', ')})` });
      });
    });
    const seen = new Map<string, number>();
    fleet.stacks.forEach((s, i) => {
      if (seen.has(s.name)) {
        ctx.addIssue({ code: 'custom', path: ['stacks', i, 'name'], message: `duplicate stack name "${s.name}" (also stacks[${seen.get(s.name)}]); stack names must be unique` });
      }
      seen.set(s.name, i);
      const svc = new Map<string, number>();
      s.services.forEach((v, j) => {
        if (svc.has(v.name)) {
          ctx.addIssue({ code: 'custom', path: ['stacks', i, 'services', j, 'name'], message: `duplicate service name "${v.name}" in stack "${s.name}"` });
        }
        svc.set(v.name, j);
      });
    });
  });

export type FleetConfigInput = z.input<typeof FleetConfig>;
export type Fleet = z.infer<typeof FleetConfig>;

/** The tag every host of a fleet carries; SendCommand is only allowed on hosts with it. */
export const FLEET_TAG_KEY = 'shipshape:fleet';
