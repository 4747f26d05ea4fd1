/**
 * Fault injection (issue 11, item 8), shared by test/host-scripts/faults/*.test.ts: backup.sh,
 * restore.sh, drill.sh and maintenance.sh run once for every external command they call, with
 * that command failing, hanging or writing nothing in turn (./fault-harness.ts). After each fault:
 *   - exactly one valid JSON result on stdout;
 *   - complete/ok only when true: a complete backup is in S3 whole (sizes, SHA-256s) and
 *     restorable, an ok restore put back exactly the backed-up data;
 *   - no manifest after a failed stage;
 *   - containers in their prior state (or the result names the one that is not);
 *   - prior backups untouched;
 *   - live data unchanged, or rolled back (or the result says the rollback failed).
 * The scripts' own time limits are shortened to 2-3 s so that hangs end quickly.
 *
 * Here: the stack spec, the host every case starts from, one run of a script under a fault, the
 * checks the cases share, and the verified backup of SOURCE_HOST that restores, drills and
 * differentials start from. Each file calls useFaultBench once: its own lab (S3 server and
 * shims), its own source backup when it needs one, and its part of the fault report.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { parseFleet } from '../../lib/config/load.js';
import { BackupManifest, BackupResult } from '../../lib/results/backup.js';
import { checksumOf } from '../../lib/results/checksum.js';
import { backupSpecLines } from '../../lib/runbooks/backup.js';
import { maintenanceSpecLines } from '../../lib/runbooks/maintenance.js';
import { type Fault, FaultLab, type FaultOutcome, hashTree, writeReport } from './fault-harness.js';
import { FakeHost, running } from './fake-host.js';
import { runHostScript } from './run-script.js';
import { specFile } from './spec-file.js';

export const BUCKET = 'faults';
export const SOURCE_HOST = 'i-0f0f0f0f0f0f0f0f0';
/** The scripts' own time limits, shortened so that hangs end quickly. */
export const LIMITS = {
  SHIPSHAPE_SQLITE_TIMEOUT_SECONDS: '2', SHIPSHAPE_STREAM_TIMEOUT_SECONDS: '3', SHIPSHAPE_DOCKER_TIMEOUT_SECONDS: '2', SHIPSHAPE_HOOK_TIMEOUT_SECONDS: '2',
  SHIPSHAPE_S3_TIMEOUT_SECONDS: '3', SHIPSHAPE_S3_SHORT_TIMEOUT_SECONDS: '3', SHIPSHAPE_HEALTH_WAIT_SECONDS: '1', SHIPSHAPE_S3_RETRY_DELAY_SECONDS: '1',
};
/** The external commands each script calls (a clean run checks these lists are complete). */
export const BACKUP_COMMANDS = ['sqlite3', 'tar', 'zstd', 'openssl', 'wc', 'tee', 'curl', 'docker exec', 'docker stop', 'docker start', 'docker inspect', 'docker volume'];
// A restore counts no bytes (wc): it hashes each download in the same pass (tee) and sets data aside on the host.
export const RESTORE_COMMANDS = [...BACKUP_COMMANDS.filter((c) => c !== 'wc'), 'docker ps'];
export const DRILL_COMMANDS = ['curl', 'tee', 'openssl', 'zstd', 'tar', 'sqlite3'];
/** Maintenance runs a full backup first (covered by the backup cases); these are the commands of its own part. */
export const MAINTENANCE_COMMANDS = ['sqlite3', 'docker stop', 'docker start', 'docker inspect'];

export const toFault = (command: string, mode: Fault['mode'], skip?: number, times?: number): Fault => {
  const [cmd, sub] = command.split(' ');
  return { cmd: cmd!, sub, mode, skip, times };
};

export const sqlite = (db: string, sql: string, cwd?: string) => execFileSync('sqlite3', [db, sql], { encoding: 'utf8', cwd }).trim();

/** A host: app (SQLite on a bind mount, one database read by the host, one inside the container), a volume, cron (running) and idle (stopped) on the stop list. */
/** 200 KB that do not compress and are the same on every host (SHA-256 in counter mode). */
const BIG = Buffer.concat(Array.from({ length: 6400 }, (_, i) => createHash('sha256').update(String(i)).digest()));

/** bigFile: BIG in the volume, so that 64 KiB parts make a multipart archive. */
export function prepareHost(opts: { bigFile?: boolean } = {}) {
  const host = new FakeHost();
  const root = join(host.dir, 'app-root');
  mkdirSync(join(root, 'data'), { recursive: true });
  mkdirSync(join(root, 'tmp'));
  const db = join(root, 'data', 'app.db');
  // Both databases in one sqlite3 call (one process per host instead of two).
  sqlite(db, "PRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM s WHERE i < 300) INSERT INTO t(v) SELECT hex(randomblob(32)) FROM s;"
    + "ATTACH 'other.db' AS other; CREATE TABLE other.o(v TEXT); INSERT INTO other.o VALUES (1), (2);", join(root, 'data'));
  const vol = join(host.dir, 'files');
  mkdirSync(join(vol, 'sub'), { recursive: true });
  writeFileSync(join(vol, 'sub', 'a.txt'), 'alpha');
  writeFileSync(join(vol, 'b.txt'), 'beta');
  if (opts.bigFile) writeFileSync(join(vol, 'big.bin'), BIG);
  host.setContainers({
    app: running({ root, Mounts: [{ Destination: '/data', Source: join(root, 'data') }], commands: { sync: { exit: 0 } } }),
    cron: running({ Mounts: [{ Destination: '/files', Source: vol, Name: 'app_files' }] }),
    idle: { State: { Status: 'exited' } },
  });
  host.setVolumes({ app_files: vol });
  mkdirSync(join(host.dir, 'scratch'));
  return { host, db, vol, root };
}
export type PreparedHost = ReturnType<typeof prepareHost>;

/** What the data looks like: files of the volume, and the rows of both databases. */
export function liveData(p: PreparedHost) {
  // Both databases in one sqlite3 call; a missing table or database fails it, as it did with two.
  const out = sqlite(p.db, "SELECT count(*), total(length(v)) FROM t; ATTACH 'other.db' AS other; SELECT 'other:' || ifnull(group_concat(v), '') FROM other.o;", join(p.root, 'data'));
  const [app, other, ...rest] = out.split('\n');
  expect(rest.length === 0 && other?.startsWith('other:'), `liveData read: ${out}`).toBe(true);
  return { files: hashTree(p.vol), app, other: other!.slice('other:'.length) };
}
export const states = (host: FakeHost) => Object.fromEntries(Object.entries(host.containers()).map(([k, c]) => [k, c.State.Status]));

export function assertContainers(before: Record<string, string>, after: Record<string, string>, errors: string[]) {
  for (const [name, state] of Object.entries(before)) {
    if (after[name] !== state) expect(errors.join('\n'), `${name} went from ${state} to ${after[name]} without a word`).toContain(name);
  }
  // A container that was stopped on purpose is never started.
  expect(after.idle).toBe('exited');
}

/** One file's lab, specs, source backup and outcomes (see useFaultBench). */
export class FaultBench {
  readonly lab = new FaultLab([BUCKET]);
  readonly outcomes: FaultOutcome[] = [];
  spec = '';
  maintenanceSpec = '';
  /** SOURCE_HOST's verified run (its prefix); its backup state is in sourceState. */
  sourceRun = '';
  readonly sourceState = join(this.lab.dir, 'source-state');
  seq = 0;

  writeSpecs(): void {
    const fleet = parseFleet({ fleet: 'demo', stacks: [{ name: 'web', hosts: { tag: { key: 'R', value: 'w' } }, services: [{ name: 'app', container: 'app' }], backup: {
      sqlite: [{ name: 'app-db', container: 'app', path: '/data/app.db' }, { name: 'other-db', container: 'app', path: '/data/other.db', runIn: 'container' }],
      volumes: [{ name: 'app_files' }], stop: ['cron', 'idle'], stopTimeoutSeconds: 1, hooks: { pre: [{ container: 'app', command: ['sync'] }] },
    } }] });
    this.spec = specFile({ backup: backupSpecLines(fleet.stacks[0]!.backup!) });
    const withMaintenance = parseFleet({ fleet: 'demo', stacks: [{ name: 'web', hosts: { tag: { key: 'R', value: 'w' } }, services: [{ name: 'app', container: 'app' }],
      backup: { sqlite: [{ name: 'app-db', container: 'app', path: '/data/app.db' }], volumes: [{ name: 'app_files' }], stopTimeoutSeconds: 1 },
      maintenance: { sqlite: [{ name: 'app-db', container: 'app', path: '/data/app.db', operations: ['vacuum', 'analyze'] }] } }] });
    this.maintenanceSpec = specFile({ backup: backupSpecLines(withMaintenance.stacks[0]!.backup!), maintenance: maintenanceSpecLines(withMaintenance.stacks[0]!.maintenance!) });
  }

  /** Runs a host script on a prepared host, under a fault or none; each run has its own instance ID. */
  async run(script: string, p: PreparedHost, fault: Fault | undefined, extra: Record<string, string> = {}) {
    const seq = ++this.seq;
    const instance = `i-0${String(seq).padStart(16, '0')}`;
    const { env, log } = this.lab.env(p.host.env().PATH!, fault);
    const result = await runHostScript(script, p.host.env({
      ...env, ...LIMITS, SHIPSHAPE_STACK: 'web', SHIPSHAPE_RUN_ID: `fault-${seq}`, SHIPSHAPE_SPEC_FILE: this.spec, SHIPSHAPE_BUCKET: BUCKET,
      SHIPSHAPE_LOCK_DIR: join(p.host.dir, 'locks'), SHIPSHAPE_SCRATCH_DIR: join(p.host.dir, 'scratch'), AWS_SSM_INSTANCE_ID: instance, HOME: p.host.dir, ...extra,
    }), 60_000);
    return { ...result, log, instance };
  }

  /** A verified backup of SOURCE_HOST that restores, drills and differentials start from. */
  async backupSource(opts: { partBytes?: string } = {}): Promise<void> {
    const p = prepareHost({ bigFile: opts.partBytes !== undefined });
    const r = await this.run('backup.sh', p, undefined, { AWS_SSM_INSTANCE_ID: SOURCE_HOST, ...(opts.partBytes ? { SHIPSHAPE_S3_PART_BYTES: opts.partBytes } : {}) });
    const result = BackupResult.parse(r.json);
    expect(result.errors, r.stderr).toEqual([]);
    writeFileSync(join(this.lab.s3, BUCKET, result.manifestKey!.replace('manifest.json', 'verified.json')), '{}');
    this.sourceRun = result.prefix;
    cpSync(join(p.host.dir, 'state'), this.sourceState, { recursive: true });
    p.host.dispose();
  }

  /** A complete run must be in S3 whole and restorable. */
  assertRestorable(r: BackupResult): void {
    const manifest = BackupManifest.parse(JSON.parse(this.lab.read(BUCKET, r.manifestKey!)!.toString()));
    for (const a of manifest.archives) {
      const body = this.lab.read(BUCKET, a.key);
      expect(body, a.key).toBeDefined();
      expect(body!.length).toBe(a.bytes);
      expect(checksumOf(body!, a.sha256!)).toBe(a.sha256);
      const raw = execFileSync('zstd', ['-dc'], { input: body, maxBuffer: 1 << 26 });
      if (a.kind === 'sqlite') {
        const f = join(this.lab.dir, `check-${this.seq}-${a.name}.db`);
        writeFileSync(f, raw);
        expect(sqlite(f, 'PRAGMA integrity_check;')).toBe('ok');
      } else {
        expect(execFileSync('tar', ['-tf', '-'], { input: raw }).toString()).toContain('./b.txt');
      }
    }
  }
}

/**
 * The bench of one fault file: specs written (and SOURCE_HOST backed up when `sourceBackup`)
 * before its tests; its outcomes written to the fault report as `part` after them.
 */
/** sourcePartBytes: the source backup is uploaded in parts of this size (its volume holds a 200 KB file). */
export function useFaultBench(part: string, opts: { sourceBackup?: boolean; sourcePartBytes?: string } = {}): FaultBench {
  const bench = new FaultBench();
  beforeAll(async () => {
    bench.writeSpecs();
    if (opts.sourceBackup) await bench.backupSource({ partBytes: opts.sourcePartBytes });
  }, 60_000);
  afterAll(() => {
    writeReport(bench.outcomes, part);
    bench.lab.dispose();
  });
  return bench;
}
