/**
 * Fault injection (issue 11, item 8): backup.sh, restore.sh and drill.sh run once for every
 * external command they call, with that command failing, hanging or writing nothing in
 * turn (test/support/fault-harness.ts). After each fault:
 *   - exactly one valid JSON result on stdout;
 *   - complete/ok only when true: a complete backup is in S3 whole (sizes, SHA-256s) and
 *     restorable, an ok restore put back exactly the backed-up data;
 *   - no manifest after a failed stage;
 *   - containers in their prior state (or the result names the one that is not);
 *   - prior backups untouched;
 *   - live data unchanged, or rolled back (or the result says the rollback failed).
 * The scripts' own time limits are shortened to 2-3 s so that hangs end quickly.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFleet } from '../../lib/config/load.js';
import { BackupManifest, BackupResult } from '../../lib/results/backup.js';
import { DrillResult } from '../../lib/results/drill.js';
import { MaintenanceResult } from '../../lib/results/maintenance.js';
import { RestoreResult } from '../../lib/results/restore.js';
import { backupSpecLines } from '../../lib/runbooks/backup.js';
import { maintenanceSpecLines } from '../../lib/runbooks/maintenance.js';
import { callCounts, type Fault, faultName, FaultLab, type FaultOutcome, hashTree, MODES, oneJson, writeReport } from '../support/fault-harness.js';
import { FakeHost, running } from '../support/fake-host.js';
import { runHostScript } from '../support/run-script.js';
import { specFile } from '../support/spec-file.js';

const BUCKET = 'faults';
const SOURCE_HOST = 'i-0f0f0f0f0f0f0f0f0';
const LIMITS = {
  SHIPSHAPE_SQLITE_TIMEOUT_SECONDS: '2', SHIPSHAPE_STREAM_TIMEOUT_SECONDS: '3', SHIPSHAPE_DOCKER_TIMEOUT_SECONDS: '2', SHIPSHAPE_HOOK_TIMEOUT_SECONDS: '2',
  SHIPSHAPE_S3_TIMEOUT_SECONDS: '3', SHIPSHAPE_S3_SHORT_TIMEOUT_SECONDS: '3', SHIPSHAPE_HEALTH_WAIT_SECONDS: '1',
};
/** The external commands each script calls (a clean run checks these lists are complete). */
const BACKUP_COMMANDS = ['sqlite3', 'tar', 'zstd', 'openssl', 'wc', 'tee', 'curl', 'docker exec', 'docker stop', 'docker start', 'docker inspect', 'docker volume'];
// A restore counts no bytes (wc): it hashes each download in the same pass (tee) and sets data aside on the host.
const RESTORE_COMMANDS = [...BACKUP_COMMANDS.filter((c) => c !== 'wc'), 'docker ps'];
const DRILL_COMMANDS = ['curl', 'tee', 'openssl', 'zstd', 'tar', 'sqlite3'];
/** Maintenance runs a full backup first (covered above); these are the commands of its own part. */
const MAINTENANCE_COMMANDS = ['sqlite3', 'docker stop', 'docker start', 'docker inspect'];
const toFault = (command: string, mode: Fault['mode'], skip?: number, times?: number): Fault => {
  const [cmd, sub] = command.split(' ');
  return { cmd: cmd!, sub, mode, skip, times };
};

const lab = new FaultLab([BUCKET]);
const outcomes: FaultOutcome[] = [];
let spec: string;
let maintenanceSpec: string;
let seq = 0;
/** SOURCE_HOST's verified run, and its backup state (the full that differentials build on). */
let sourceRun = '';
afterAll(() => {
  writeReport(outcomes);
  lab.dispose();
});

const sqlite = (db: string, sql: string) => execFileSync('sqlite3', [db, sql], { encoding: 'utf8' }).trim();

/** A host: app (SQLite on a bind mount, one database read by the host, one inside the container), a volume, cron (running) and idle (stopped) on the stop list. */
function prepareHost() {
  const host = new FakeHost();
  const root = join(host.dir, 'app-root');
  mkdirSync(join(root, 'data'), { recursive: true });
  mkdirSync(join(root, 'tmp'));
  const db = join(root, 'data', 'app.db');
  sqlite(db, "PRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM s WHERE i < 300) INSERT INTO t(v) SELECT hex(randomblob(32)) FROM s;");
  sqlite(join(root, 'data', 'other.db'), 'CREATE TABLE o(v TEXT); INSERT INTO o VALUES (1), (2);');
  const vol = join(host.dir, 'files');
  mkdirSync(join(vol, 'sub'), { recursive: true });
  writeFileSync(join(vol, 'sub', 'a.txt'), 'alpha');
  writeFileSync(join(vol, 'b.txt'), 'beta');
  host.setContainers({
    app: running({ root, Mounts: [{ Destination: '/data', Source: join(root, 'data') }], commands: { sync: { exit: 0 } } }),
    cron: running({ Mounts: [{ Destination: '/files', Source: vol, Name: 'app_files' }] }),
    idle: { State: { Status: 'exited' } },
  });
  host.setVolumes({ app_files: vol });
  mkdirSync(join(host.dir, 'scratch'));
  return { host, db, vol, root };
}

/** What the data looks like: files of the volume, and the rows of both databases. */
function liveData(p: ReturnType<typeof prepareHost>) {
  return { files: hashTree(p.vol), app: sqlite(p.db, 'SELECT count(*), total(length(v)) FROM t;'), other: sqlite(join(p.root, 'data', 'other.db'), 'SELECT group_concat(v) FROM o;') };
}
const states = (host: FakeHost) => Object.fromEntries(Object.entries(host.containers()).map(([k, c]) => [k, c.State.Status]));

async function run(script: string, p: ReturnType<typeof prepareHost>, fault: Fault | undefined, extra: Record<string, string> = {}) {
  const instance = `i-0${String(++seq).padStart(16, '0')}`;
  const { env, log } = lab.env(p.host.env().PATH!, fault);
  const result = await runHostScript(script, p.host.env({
    ...env, ...LIMITS, SHIPSHAPE_STACK: 'web', SHIPSHAPE_RUN_ID: `fault-${seq}`, SHIPSHAPE_SPEC_FILE: spec, SHIPSHAPE_BUCKET: BUCKET,
    SHIPSHAPE_LOCK_DIR: join(p.host.dir, 'locks'), SHIPSHAPE_SCRATCH_DIR: join(p.host.dir, 'scratch'), AWS_SSM_INSTANCE_ID: instance, HOME: p.host.dir, ...extra,
  }), 60_000);
  return { ...result, log, instance };
}

/** A complete run must be in S3 whole and restorable. */
function assertRestorable(r: BackupResult) {
  const manifest = BackupManifest.parse(JSON.parse(lab.read(BUCKET, r.manifestKey!)!.toString()));
  for (const a of manifest.archives) {
    const body = lab.read(BUCKET, a.key);
    expect(body, a.key).toBeDefined();
    expect(body!.length).toBe(a.bytes);
    expect(execFileSync('sha256sum', { input: body }).toString().split(' ')[0]).toBe(a.sha256);
    const raw = execFileSync('zstd', ['-dc'], { input: body, maxBuffer: 1 << 26 });
    if (a.kind === 'sqlite') {
      const f = join(lab.dir, `check-${seq}-${a.name}.db`);
      writeFileSync(f, raw);
      expect(sqlite(f, 'PRAGMA integrity_check;')).toBe('ok');
    } else {
      expect(execFileSync('tar', ['-tf', '-'], { input: raw }).toString()).toContain('./b.txt');
    }
  }
}

function assertContainers(before: Record<string, string>, after: Record<string, string>, errors: string[]) {
  for (const [name, state] of Object.entries(before)) {
    if (after[name] !== state) expect(errors.join('\n'), `${name} went from ${state} to ${after[name]} without a word`).toContain(name);
  }
  // A container that was stopped on purpose is never started.
  expect(after.idle).toBe('exited');
}

beforeAll(async () => {
  const fleet = parseFleet({ fleet: 'demo', stacks: [{ name: 'web', hosts: { tag: { key: 'R', value: 'w' } }, services: [{ name: 'app', container: 'app' }], backup: {
    sqlite: [{ name: 'app-db', container: 'app', path: '/data/app.db' }, { name: 'other-db', container: 'app', path: '/data/other.db', runIn: 'container' }],
    volumes: [{ name: 'app_files' }], stop: ['cron', 'idle'], stopTimeoutSeconds: 1, hooks: { pre: [{ container: 'app', command: ['sync'] }] },
  } }] });
  spec = specFile({ backup: backupSpecLines(fleet.stacks[0]!.backup!) });
  const withMaintenance = parseFleet({ fleet: 'demo', stacks: [{ name: 'web', hosts: { tag: { key: 'R', value: 'w' } }, services: [{ name: 'app', container: 'app' }],
    backup: { sqlite: [{ name: 'app-db', container: 'app', path: '/data/app.db' }], volumes: [{ name: 'app_files' }], stopTimeoutSeconds: 1 },
    maintenance: { sqlite: [{ name: 'app-db', container: 'app', path: '/data/app.db', operations: ['vacuum', 'analyze'] }] } }] });
  maintenanceSpec = specFile({ backup: backupSpecLines(withMaintenance.stacks[0]!.backup!), maintenance: maintenanceSpecLines(withMaintenance.stacks[0]!.maintenance!) });
  // A verified backup of SOURCE_HOST that restores and drills start from.
  const p = prepareHost();
  const r = await run('backup.sh', p, undefined, { AWS_SSM_INSTANCE_ID: SOURCE_HOST });
  const result = BackupResult.parse(r.json);
  expect(result.errors, r.stderr).toEqual([]);
  writeFileSync(join(lab.s3, BUCKET, result.manifestKey!.replace('manifest.json', 'verified.json')), '{}');
  sourceRun = result.prefix;
  cpSync(join(p.host.dir, 'state'), join(lab.dir, 'source-state'), { recursive: true });
  p.host.dispose();
}, 60_000);

describe('backup.sh under injected faults', () => {
  it('calls exactly the commands the harness breaks, and succeeds without a fault', async () => {
    // Act
    const p = prepareHost();
    const r = await run('backup.sh', p, undefined);
    // Assess
    const result = BackupResult.parse(r.json);
    expect(result.complete).toBe(true);
    expect(new Set(callCounts(r.log).keys())).toEqual(new Set(BACKUP_COMMANDS));
    p.host.dispose();
  });

  const cases = BACKUP_COMMANDS.flatMap((c) => MODES.map((m) => toFault(c, m)));
  it.concurrent.each(cases.map((f) => [faultName(f), f] as const))('backup with %s: one true result, nothing lost', async (_name, fault) => {
    // Prepare
    const p = prepareHost();
    const priorObjects = lab.objects();
    const before = { data: liveData(p), containers: states(p.host) };
    // Act
    const r = await run('backup.sh', p, fault);
    // Assess
    const { doc, problem } = oneJson(r.stdout);
    expect(problem, r.stderr).toBeUndefined();
    const result = BackupResult.parse(doc);
    outcomes.push({ script: 'backup.sh', fault: faultName(fault), outcome: result.complete ? 'complete (fault had no effect on the data)' : 'incomplete, no manifest', detail: result.errors[0] ?? '' });
    const manifest = `${result.prefix}/manifest.json`;
    if (result.complete) assertRestorable(result);
    else expect(lab.read(BUCKET, manifest), 'a manifest after a failed stage').toBeUndefined();
    if (!result.complete) expect(result.errors.length).toBeGreaterThan(0);
    assertContainers(before.containers, states(p.host), result.errors);
    const after = lab.objects();
    for (const [k, sha] of Object.entries(priorObjects)) expect(after[k], `prior object ${k}`).toBe(sha);
    expect(liveData(p)).toEqual(before.data);
    p.host.dispose();
  });
});

describe('backup.sh differential under injected faults', () => {
  /** A host whose state holds a verified full (SOURCE_HOST's run, copied to its own prefix): its next run is a differential. */
  function hostWithFull() {
    const p = prepareHost();
    const instance = `i-0d${String(++seq).padStart(15, '0')}`;
    const run = sourceRun.replace(SOURCE_HOST, instance);
    cpSync(join(lab.s3, BUCKET, sourceRun), join(lab.s3, BUCKET, run), { recursive: true });
    cpSync(join(lab.dir, 'source-state'), join(p.host.dir, 'state'), { recursive: true });
    const state = join(p.host.dir, 'state', 'web', 'backup', 'app_files', 'state');
    writeFileSync(state, readFileSync(state, 'utf8').replaceAll(SOURCE_HOST, instance));
    return { p, instance, state };
  }

  it('makes a differential of the volume on the full without a fault', async () => {
    // Prepare
    const { p, instance, state } = hostWithFull();
    // Act
    const r = await run('backup.sh', p, undefined, { AWS_SSM_INSTANCE_ID: instance });
    // Assess
    const result = BackupResult.parse(r.json);
    expect(result.errors, r.stderr).toEqual([]);
    expect(result.archives.map((a) => [a.name, a.level])).toEqual([['app-db', 0], ['other-db', 0], ['app_files', 1]]);
    expect(readFileSync(state, 'utf8')).toMatch(/^since\t1$/m);
    p.host.dispose();
  });

  const cases = ['tar', 'zstd', 'openssl', 'wc', 'tee', 'curl'].flatMap((c) => MODES.map((m) => toFault(c, m)));
  it.concurrent.each(cases.map((f) => [faultName(f), f] as const))('differential with %s: one true result, no manifest and no moved base after a fault', async (_name, fault) => {
    // Prepare
    const { p, instance, state } = hostWithFull();
    const priorObjects = lab.objects();
    const stateBefore = readFileSync(state, 'utf8');
    // Act
    const r = await run('backup.sh', p, fault, { AWS_SSM_INSTANCE_ID: instance });
    // Assess
    const { doc, problem } = oneJson(r.stdout);
    expect(problem, r.stderr).toBeUndefined();
    const result = BackupResult.parse(doc);
    outcomes.push({ script: 'backup.sh (differential)', fault: faultName(fault), outcome: result.complete ? `complete, volume level ${result.archives.at(-1)?.level}` : 'incomplete, no manifest', detail: result.errors[0] ?? '' });
    if (result.complete) assertRestorable(result);
    else {
      expect(lab.read(BUCKET, `${result.prefix}/manifest.json`), 'a manifest after a failed stage').toBeUndefined();
      expect(result.errors.length).toBeGreaterThan(0);
      expect(readFileSync(state, 'utf8'), 'the base moved after a failed run').toBe(stateBefore);
    }
    const after = lab.objects();
    for (const [k, sha] of Object.entries(priorObjects)) expect(after[k], `prior object ${k}`).toBe(sha);
    p.host.dispose();
  });
});

describe('restore.sh under injected faults', () => {
  let baseline: Map<string, number>;
  let backedUp: ReturnType<typeof liveData>;

  /** A host as the backup saw it, then changed, so a restore has something to put back. */
  function changedHost() {
    const p = prepareHost();
    const original = liveData(p);
    writeFileSync(join(p.vol, 'intruder.txt'), 'written after the backup');
    sqlite(p.db, 'DELETE FROM t WHERE id > 100;');
    return { p, original };
  }

  beforeAll(async () => {
    const { p, original } = changedHost();
    backedUp = original;
    const r = await run('restore.sh', p, undefined, { SHIPSHAPE_FROM_HOST: SOURCE_HOST });
    const result = RestoreResult.parse(r.json);
    expect(result.errors, r.stderr).toEqual([]);
    expect(liveData(p)).toEqual(backedUp);
    baseline = callCounts(r.log);
    p.host.dispose();
  }, 60_000);

  it('calls exactly the commands the harness breaks', () => {
    expect(new Set(baseline.keys())).toEqual(new Set(RESTORE_COMMANDS));
  });

  // Each command failing, hanging or silent throughout, then failing once at its last call of
  // a clean run (after the safety backup, while the restore changes data): that must roll back.
  const cases = [...RESTORE_COMMANDS.flatMap((c) => MODES.map((m) => ({ command: c, mode: m, last: false }))), ...RESTORE_COMMANDS.map((c) => ({ command: c, mode: 'fail' as const, last: true })),
    ...['tar', 'zstd'].map((c) => ({ command: c, mode: 'nothing' as const, last: true }))];
  it.concurrent.each(cases.map((c) => [`${c.command} ${c.mode}${c.last ? ' at its last call' : ''}`, c] as const))('restore with %s: one true result, data restored or as it was', async (name, c) => {
    // Prepare
    const { p } = changedHost();
    const fault = c.last ? toFault(c.command, c.mode, (baseline.get(c.command) ?? 1) - 1, 1) : toFault(c.command, c.mode);
    const priorObjects = lab.objects();
    const before = { data: liveData(p), containers: states(p.host) };
    // Act
    const r = await run('restore.sh', p, fault, { SHIPSHAPE_FROM_HOST: SOURCE_HOST });
    // Assess
    const { doc, problem } = oneJson(r.stdout);
    expect(problem, r.stderr).toBeUndefined();
    const result = RestoreResult.parse(doc);
    const data = liveData(p);
    outcomes.push({ script: 'restore.sh', fault: name, outcome: result.ok ? 'ok, data restored' : result.rolledBack === true ? 'failed, rolled back' : result.rolledBack === false ? 'failed, rollback failed (reported)' : 'failed before any change', detail: result.errors[0] ?? '' });
    if (result.ok) expect(data).toEqual(backedUp);
    else if (result.rolledBack === false) expect(result.errors.length).toBeGreaterThan(0);
    else expect(data).toEqual(before.data);
    if (!result.ok) expect(result.errors.length).toBeGreaterThan(0);
    assertContainers(before.containers, states(p.host), result.errors);
    const after = lab.objects();
    for (const [k, sha] of Object.entries(priorObjects)) expect(after[k], `prior object ${k}`).toBe(sha);
    expect(readdirSync(join(p.host.dir, 'scratch'))).toEqual([]);
    p.host.dispose();
  });
});

describe('drill.sh under injected faults', () => {
  it.concurrent.each(DRILL_COMMANDS.flatMap((c) => MODES.map((m) => [`${c} ${m}`, toFault(c, m)] as const)))('drill with %s: one result, no pass without proof', async (name, fault) => {
    // Prepare
    const p = prepareHost();
    const priorObjects = lab.objects();
    // Act
    const r = await run('drill.sh', p, fault, { SHIPSHAPE_FROM_HOST: SOURCE_HOST });
    // Assess
    const { doc, problem } = oneJson(r.stdout);
    expect(problem, r.stderr).toBeUndefined();
    const result = DrillResult.parse(doc);
    const passed = result.errors.length === 0 && result.archives.length > 0 && result.archives.every((a) => a.ok);
    outcomes.push({ script: 'drill.sh', fault: name, outcome: passed ? 'passed (fault had no effect)' : 'failed', detail: result.errors[0] ?? '' });
    // A pass needs every archive checked: databases with integrity "ok", directories with entries.
    if (passed) for (const a of result.archives) expect(a.kind === 'sqlite' ? a.integrity : a.entries).toBeTruthy();
    expect(lab.objects()).toEqual(priorObjects);
    expect(readdirSync(join(p.host.dir, 'scratch'))).toEqual([]);
    p.host.dispose();
  });
});

describe('maintenance.sh under injected faults', () => {
  let baseline: Map<string, number>;
  beforeAll(async () => {
    const p = prepareHost();
    const r = await run('maintenance.sh', p, undefined, { SHIPSHAPE_SPEC_FILE: maintenanceSpec });
    const result = MaintenanceResult.parse(r.json);
    expect(result.errors, r.stderr).toEqual([]);
    baseline = callCounts(r.log);
    p.host.dispose();
  }, 60_000);

  // Each command of its own part failing, hanging or silent throughout, then failing once at its last call.
  const cases = [...MAINTENANCE_COMMANDS.flatMap((c) => MODES.map((m) => ({ command: c, mode: m, last: false }))), ...MAINTENANCE_COMMANDS.map((c) => ({ command: c, mode: 'fail' as const, last: true }))];
  it.concurrent.each(cases.map((c) => [`${c.command} ${c.mode}${c.last ? ' at its last call' : ''}`, c] as const))('maintenance with %s: one true result, the database whole', async (name, c) => {
    // Prepare
    const p = prepareHost();
    const fault = c.last ? toFault(c.command, c.mode, (baseline.get(c.command) ?? 1) - 1, 1) : toFault(c.command, c.mode);
    const before = { data: liveData(p), containers: states(p.host) };
    // Act
    const r = await run('maintenance.sh', p, fault, { SHIPSHAPE_SPEC_FILE: maintenanceSpec, SHIPSHAPE_MAINTENANCE_TIMEOUT_SECONDS: '2' });
    // Assess
    const { doc, problem } = oneJson(r.stdout);
    expect(problem, r.stderr).toBeUndefined();
    const result = MaintenanceResult.parse(doc);
    const db = result.sqlite[0];
    outcomes.push({ script: 'maintenance.sh', fault: name, outcome: !db ? 'no database touched' : db.ok ? 'ok' : db.rolledBack === true ? 'failed, database put back' : db.rolledBack === false ? 'failed, put back failed (reported)' : 'failed',
      detail: result.errors[0] ?? '' });
    if (db?.ok) expect(db.integrity).toBe('ok');
    else expect(result.errors.length).toBeGreaterThan(0);
    // VACUUM and ANALYZE never change the rows; the file is whole whatever happened.
    expect(sqlite(p.db, 'PRAGMA integrity_check;')).toBe('ok');
    expect(liveData(p)).toEqual(before.data);
    assertContainers(before.containers, states(p.host), result.errors);
    p.host.dispose();
  });
});

describe('the AWS CLI transport (SHIPSHAPE_S3_TRANSPORT=cli) under injected faults', () => {
  const CLI = { SHIPSHAPE_S3_TRANSPORT: 'cli' };
  it('backs up through the CLI alone, without a fault', async () => {
    // Act
    const p = prepareHost();
    const r = await run('backup.sh', p, undefined, CLI);
    // Assess
    const result = BackupResult.parse(r.json);
    expect(result.complete, r.stderr).toBe(true);
    assertRestorable(result);
    expect(callCounts(r.log).has('aws')).toBe(true);
    expect(callCounts(r.log).has('curl')).toBe(false);
    p.host.dispose();
  });

  it.concurrent.each(MODES.map((m) => [m] as const))('backup with aws %s: incomplete with a reason, no manifest', async (mode) => {
    // Prepare
    const p = prepareHost();
    const priorObjects = lab.objects();
    // Act
    const r = await run('backup.sh', p, toFault('aws', mode), CLI);
    // Assess
    const { doc, problem } = oneJson(r.stdout);
    expect(problem, r.stderr).toBeUndefined();
    const result = BackupResult.parse(doc);
    outcomes.push({ script: 'backup.sh (CLI)', fault: `aws ${mode}`, outcome: result.complete ? 'complete' : 'incomplete, no manifest', detail: result.errors[0] ?? '' });
    expect(result.complete).toBe(false);
    expect(result.errors.length).toBeGreaterThan(0);
    expect(lab.read(BUCKET, `${result.prefix}/manifest.json`)).toBeUndefined();
    const after = lab.objects();
    for (const [k, sha] of Object.entries(priorObjects)) expect(after[k], `prior object ${k}`).toBe(sha);
    p.host.dispose();
  });

  it.concurrent.each([['restore.sh'], ['drill.sh']] as const)('%s with aws failing: fails with a reason, data and backups as they were', async (script) => {
    // Prepare
    const p = prepareHost();
    const priorObjects = lab.objects();
    const before = liveData(p);
    // Act
    const r = await run(script, p, toFault('aws', 'fail'), { ...CLI, SHIPSHAPE_FROM_HOST: SOURCE_HOST });
    // Assess
    const { doc, problem } = oneJson(r.stdout);
    expect(problem, r.stderr).toBeUndefined();
    const errors = script === 'restore.sh' ? RestoreResult.parse(doc).errors : DrillResult.parse(doc).errors;
    outcomes.push({ script: `${script} (CLI)`, fault: 'aws fail', outcome: 'failed', detail: errors[0] ?? '' });
    expect(errors.join('\n')).toContain('injected fault: aws');
    expect(liveData(p)).toEqual(before);
    expect(lab.objects()).toEqual(priorObjects);
    p.host.dispose();
  });
});
