/**
 * Incremental backups, measured on this machine: what a second backup uploads when 1 % of a
 * volume's files changed, how long it takes, the process tree's peak memory, and whether a
 * restore of the second backup gives back the volume's bytes. Both methods upload to s3rver
 * (its own process), so both pay the same endpoint.
 *
 *   tar      GNU tar --listed-incremental (level 0, then level 1 from a copy of the level-0
 *            snapshot file) | zstd -T0 -3 | aws s3 cp -, as backup.sh streams; restore:
 *            aws s3 cp - | zstd -dc | tar -x --listed-incremental=/dev/null, full then incremental
 *            (GNU tar then also deletes the files the incremental's directory listing lacks).
 *   restic   restic 0.14 (Debian), S3 backend on s3rver, repository format 2 (zstd, auto), a
 *            local cache as a host would keep; uploaded bytes = bytes added to the repository.
 *   shipshape backup.sh itself (differential: level 1 against the newest full, host state in
 *            SHIPSHAPE_STATE_DIR), against a plain-HTTP s3rver of its own; every run is marked
 *            verified as the result function would; uploaded bytes = every object of the run
 *            (archives, markers, manifest). Restore: restore.sh of the second run, in place.
 *
 * Per round, a fresh copy of the generated volume; the methods run interleaved (A's full, B's
 * full, change, A's second, B's second, scattered page writes, A's third, B's third, a clustered
 * change and growth of the database-like file, A's fourth, B's fourth, restores of the second).
 */
import { ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, closeSync, cpSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseFleet } from '../lib/config/load.js';
import { backupSpecLines } from '../lib/runbooks/backup.js';
import { FakeHost, running } from '../test/support/fake-host.js';
import { hostScript } from '../test/support/run-script.js';
import { specFile } from '../test/support/spec-file.js';
import { spread, type Spread } from './support/paired.js';
import { measure, measureBash, type Measured } from './support/process-tree.js';
import { startServerProcess } from './support/servers.js';

const MB = 1024 * 1024;
const BUCKET = 'incremental';

export interface IncrementalMethod {
  method: string;
  firstMB: number; secondMB: number; thirdMB: number; fourthMB: number;
  secondShare: Spread; thirdShare: Spread;
  firstSeconds: Spread; secondSeconds: Spread; thirdSeconds: Spread; restoreSeconds: Spread;
  /** The fourth backup: the database-like file changed in one place (contiguous pages) and grown at its end. */
  fourthShare: Spread; fourthSeconds: Spread;
  peakRssMB: Spread; restoredSame: boolean;
}
export interface IncrementalBench {
  scale: number; cores: number; loadBefore: number[]; loadAfter: number[]; rounds: number;
  volumeMB: number; files: number; changedFiles: number; inPlaceMB: number; methods: IncrementalMethod[]; available: { tar: string; restic: string };
  /** restic lock objects found under locks/ after its backups (0: it deleted every lock it made). */
  resticLocksLeft: number;
}

/** A volume of mixed files: 3 in 5 log-like text (~0.5 MB), 2 in 5 random (~1.5 MB), plus db.bin. */
function generate(dir: string, totalMB: number, inPlaceMB: number): number {
  mkdirSync(dir, { recursive: true });
  let bytes = 0;
  let i = 0;
  while (bytes < (totalMB - inPlaceMB) * MB) {
    const sub = join(dir, `d${Math.floor(i / 100)}`);
    if (i % 100 === 0) mkdirSync(sub);
    let body: Buffer;
    if (i % 5 < 3) {
      const lines: string[] = [];
      let n = 0;
      for (let size = 0; size < 400_000 + (i % 7) * 30_000; n++) {
        const l = `2026-11-21T09:${String(n % 60).padStart(2, '0')}:00Z INFO file=${i} request id=${n} path=/api/v1/items/${(n * 31 + i) % 977} status=200 ms=${(n + i) % 113}\n`;
        lines.push(l);
        size += l.length;
      }
      body = Buffer.from(lines.join(''));
    } else {
      body = randomBytes(Math.round(1.2 * MB + (i % 9) * 0.1 * MB));
    }
    writeFileSync(join(sub, `f${i}.${i % 5 < 3 ? 'log' : 'bin'}`), body);
    bytes += body.length;
    i++;
  }
  writeFileSync(join(dir, 'db.bin'), randomBytes(inPlaceMB * MB));
  return i + 1;
}

function listFiles(dir: string, rel = ''): string[] {
  return readdirSync(join(dir, rel), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? listFiles(dir, join(rel, e.name)) : [join(rel, e.name)])).sort();
}

/** 1 % of the files (not db.bin) change: every other one rewritten with new random bytes, the others
 * appended to; besides, one file is deleted and one created, so the restore must also remove and add. */
function changeFiles(dir: string, round: number): number {
  const files = listFiles(dir).filter((f) => f !== 'db.bin');
  const n = Math.max(1, Math.round(files.length / 100));
  const step = Math.floor(files.length / n);
  for (let k = 0; k < n; k++) {
    const f = join(dir, files[(k * step + round * 7) % files.length]!);
    if (k % 2) writeFileSync(f, randomBytes(statSync(f).size));
    else appendFileSync(f, `2026-11-22T00:00:00Z INFO appended line ${k} of round ${round}\n`.repeat(200));
  }
  rmSync(join(dir, files[(round * 13 + 5) % files.length]!));
  writeFileSync(join(dir, 'd0', `new-${round}.log`), `created before the second backup of round ${round}\n`.repeat(100));
  return n;
}

/** 1 % of db.bin's 4 KiB pages rewritten in place, as a database changes. */
function changeInPlace(dir: string): void {
  const f = join(dir, 'db.bin');
  const pages = Math.floor(statSync(f).size / 4096);
  const fd = openSync(f, 'r+');
  for (let k = 0; k < Math.max(1, Math.round(pages / 100)); k++) writeSync(fd, randomBytes(4096), 0, 4096, Math.floor(Math.random() * pages) * 4096);
  closeSync(fd);
}

/** 1 % of db.bin's pages rewritten as one contiguous run, and 1 % of its size appended, as a database that mostly grows. */
function changeClustered(dir: string): void {
  const f = join(dir, 'db.bin');
  const size = statSync(f).size;
  const fd = openSync(f, 'r+');
  const run = Math.max(4096, Math.floor(size / 100 / 4096) * 4096);
  writeSync(fd, randomBytes(run), 0, run, Math.floor(size / 2 / 4096) * 4096);
  closeSync(fd);
  appendFileSync(f, randomBytes(Math.max(4096, Math.round(size / 100))));
}

/** path -> sha256 and mode of every file under dir. */
function tree(dir: string): Map<string, string> {
  return new Map(listFiles(dir).map((f) => [f, `${createHash('sha256').update(readFileSync(join(dir, f))).digest('hex')} ${statSync(join(dir, f)).mode.toString(8)}`]));
}
function sameTree(a: Map<string, string>, b: Map<string, string>): boolean {
  return a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);
}

export async function benchIncremental(scale = Number(process.env.BENCH_SCALE ?? '1'), rounds = Number(process.env.BENCH_ROUNDS ?? '3'), log: (s: string) => void = console.log): Promise<IncrementalBench> {
  const loadBefore = loadavg();
  const dir = mkdtempSync(join(tmpdir(), 'bench-incremental-'));
  // HTTPS: restic's S3 client signs plain-HTTP uploads as aws-chunked streams, which s3rver stores undecoded.
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-subj', '/CN=127.0.0.1', '-days', '2', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const s3 = await startServerProcess('s3rver-tls', [BUCKET], { ...process.env, BENCH_TLS_CERT: cert, BENCH_TLS_KEY: key });
  const plain = await startServerProcess('s3rver', [BUCKET]);
  const client = new S3Client({ endpoint: plain.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  const host = new FakeHost();
  /** Bytes of every object under a prefix of the plain s3rver. */
  const plainBytes = async (prefix: string) => {
    let total = 0;
    let token: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix, ContinuationToken: token }));
      total += (page.Contents ?? []).reduce((n, c) => n + (c.Size ?? 0), 0);
      token = page.NextContinuationToken;
    } while (token);
    return total;
  };
  const cliEnv = { ...process.env, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_DEFAULT_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true', AWS_CA_BUNDLE: cert };
  /** Bytes stored under a prefix (the CLI pages through the listing). */
  const bucketBytes = async (prefix: string) => {
    const r = spawnSync('/usr/bin/aws', ['--endpoint-url', s3.endpoint, 's3api', 'list-objects-v2', '--bucket', BUCKET, '--prefix', prefix, '--query', 'sum(Contents[].Size || `[]`)', '--output', 'text'], { env: cliEnv, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`listing ${prefix} failed: ${r.stderr}`);
    return Number(r.stdout.trim()) || 0;
  };
  /** Objects under a prefix. */
  const bucketCount = (prefix: string) => {
    const r = spawnSync('/usr/bin/aws', ['--endpoint-url', s3.endpoint, 's3api', 'list-objects-v2', '--bucket', BUCKET, '--prefix', prefix, '--query', 'length(Contents || `[]`)', '--output', 'text'], { env: cliEnv, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`listing ${prefix} failed: ${r.stderr}`);
    return Number(r.stdout.trim()) || 0;
  };
  let resticLocksLeft = 0;
  const available: { tar: string; restic: string } = {
    tar: execFileSync('tar', ['--version'], { encoding: 'utf8' }).split('\n')[0]!,
    restic: spawnSync('restic', ['version'], { encoding: 'utf8' }).stdout?.trim() || 'not installed (apt-get install restic)',
  };
  try {
    const totalMB = Math.round(2048 * scale);
    const inPlaceMB = Math.max(1, Math.round(256 * scale));
    const pristine = join(dir, 'pristine');
    log(`  generating a ${totalMB} MB volume (with a ${inPlaceMB} MB database-like file) in ${pristine}`);
    const files = generate(pristine, totalMB, inPlaceMB);
    const volumeMB = listFiles(pristine).reduce((s, f) => s + statSync(join(pristine, f)).size, 0) / MB;
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    symlinkSync('/usr/bin/aws', join(bin, 'aws'));
    const env = {
      ...process.env, PATH: `${bin}:${process.env.PATH}`, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_DEFAULT_REGION: 'us-east-1',
      AWS_EC2_METADATA_DISABLED: 'true', HOME: dir, RESTIC_PASSWORD: 'bench', RESTIC_CACHE_DIR: join(dir, 'restic-cache'), E: s3.endpoint, AWS_CA_BUNDLE: cert, RESTIC_CACERT: cert,
    };
    const vol = join(dir, 'volume');
    const state = join(dir, 'state');
    const out = join(dir, 'out');
    type Run = { bytes: number; m: Measured };
    const methods: Record<string, { backup: (n: number, r: number) => Promise<Run>; restore: (r: number) => Promise<Measured>; restoredRoot: () => string }> = {
      'GNU tar --listed-incremental, zstd -3, aws s3 cp -': {
        backup: async (n, r) => {
          const key = `tar/r${r}/level${n}.tar.zst`;
          // Level n starts from a copy of level n-1's snapshot file, so each level's file stays for the next chain.
          const m = await measureBash(`${n ? `cp "${state}/tar${n - 1}.snar" "${state}/tar${n}.snar"` : ''}
            tar -C "${vol}" --listed-incremental="${state}/tar${n}.snar" -cf - . | zstd -q -T0 -3 | aws --endpoint-url "$E" s3 cp - "s3://${BUCKET}/${key}" --only-show-errors --no-progress`, env);
          return { bytes: await bucketBytes(key), m };
        },
        restore: (r) => measureBash(`for n in 0 1; do aws --endpoint-url "$E" s3 cp "s3://${BUCKET}/tar/r${r}/level$n.tar.zst" - --only-show-errors --no-progress | zstd -q -dc | tar -C "${out}" --listed-incremental=/dev/null -xf -; done`, env),
        restoredRoot: () => out,
      },
      'restic 0.14 (S3 backend)': {
        backup: async (n, r) => {
          const repo = `s3:${s3.endpoint}/${BUCKET}/restic-r${r}`;
          const before = await bucketBytes(`restic-r${r}/`);
          const m = await measureBash(`${n ? '' : `restic --cacert "${cert}" -r "${repo}" init -q\n`}cd "${vol}" && restic --cacert "${cert}" -r "${repo}" backup -q --host bench .`, env);
          // Each run creates a lock object and deletes it at the end: what is left was not deleted.
          resticLocksLeft += bucketCount(`restic-r${r}/locks/`);
          return { bytes: (await bucketBytes(`restic-r${r}/`)) - before, m };
        },
        // Snapshot 1 is the second backup; restic restores the paths as backed up (".").
        restore: (r) => measureBash(`id=$(restic --cacert "${cert}" -r "s3:${s3.endpoint}/${BUCKET}/restic-r${r}" snapshots --json -q | grep -o '"short_id":"[0-9a-f]*"' | sed -n 2p | cut -d'"' -f4)
          restic --cacert "${cert}" -r "s3:${s3.endpoint}/${BUCKET}/restic-r${r}" restore -q "$id" --target "${out}"`, env),
        restoredRoot: () => out,
      },
    };
    // backup.sh and restore.sh as the documents run them (fake docker: the volume is a directory).
    host.setContainers({ app: running({ Mounts: [{ Destination: '/volume', Source: vol, Name: 'data' }] }) });
    host.setVolumes({ data: vol });
    const fleet = parseFleet({ fleet: 'bench', stacks: [{ name: 'app', hosts: { tag: { key: 'R', value: 'a' } }, services: [{ name: 'app', container: 'app' }],
      backup: { volumes: [{ name: 'data' }], fullEvery: 7 } }] });
    const specPath = specFile({ backup: backupSpecLines(fleet.stacks[0]!.backup!) }, 'app');
    const shipEnv = (r: number, extra: Record<string, string> = {}) => host.env({
      SHIPSHAPE_STACK: 'app', SHIPSHAPE_RUN_ID: 'bench', SHIPSHAPE_SPEC_FILE: specPath, SHIPSHAPE_BUCKET: BUCKET, SHIPSHAPE_PREFIX: `ship-r${r}`,
      SHIPSHAPE_S3_ENDPOINT: plain.endpoint, SHIPSHAPE_HEALTH_WAIT_SECONDS: '5', AWS_SSM_INSTANCE_ID: 'i-0123456789abcdef0', SHIPSHAPE_LOCK_DIR: join(dir, 'locks'),
      SHIPSHAPE_STATE_DIR: join(state, 'ship'), SHIPSHAPE_SCRATCH_DIR: join(dir, 'scratch'), AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_DEFAULT_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true', HOME: dir, ...extra,
    });
    const shipRuns: string[][] = [];
    methods['shipshape backup.sh (differential) and restore.sh'] = {
      backup: async (n, r) => {
        const m = await measure('bash', [hostScript('backup.sh')], shipEnv(r), { timeoutMs: 1_800_000 });
        const res = JSON.parse(m.stdout) as { complete: boolean; prefix: string; manifestKey: string | null; errors: string[] };
        if (!res.complete) throw new Error(`backup.sh failed: ${res.errors.join('; ')}`);
        // What the result function does for a run whose archives check out.
        await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: res.manifestKey!.replace(/manifest\.json$/, 'verified.json'), Body: '{}' }));
        (shipRuns[r] ??= [])[n] = res.prefix;
        return { bytes: await plainBytes(`${res.prefix}/`), m };
      },
      restore: async (r) => {
        const stamp = shipRuns[r]![1]!.split('/').at(-1)!;
        mkdirSync(join(dir, 'scratch'), { recursive: true });
        const m = await measure('bash', [hostScript('restore.sh')], shipEnv(r, { SHIPSHAPE_TIMESTAMP: stamp }), { timeoutMs: 1_800_000 });
        const res = JSON.parse(m.stdout) as { ok: boolean; errors: string[] };
        if (!res.ok) throw new Error(`restore.sh failed: ${res.errors.join('; ')}`);
        return m;
      },
      restoredRoot: () => vol,
    };
    if (!available.restic.startsWith('restic')) delete methods['restic 0.14 (S3 backend)'];
    const names = Object.keys(methods);
    const res: Record<string, { b: Run[][]; restore: Measured[]; same: boolean[] }> = Object.fromEntries(names.map((k) => [k, { b: [], restore: [], same: [] }]));
    let changedFiles = 0;
    for (let r = 0; r < rounds; r++) {
      rmSync(vol, { recursive: true, force: true });
      rmSync(state, { recursive: true, force: true });
      rmSync(join(dir, 'restic-cache'), { recursive: true, force: true });
      mkdirSync(state);
      cpSync(pristine, vol, { recursive: true, preserveTimestamps: true });
      const order = r % 2 ? [...names].reverse() : names;
      const runs: Record<string, Run[]> = Object.fromEntries(names.map((k) => [k, []]));
      let afterSecond = new Map<string, string>();
      for (let n = 0; n < 4; n++) {
        if (n === 1) { changedFiles = changeFiles(vol, r); afterSecond = tree(vol); }
        if (n === 2) changeInPlace(vol);
        if (n === 3) changeClustered(vol);
        // tar decides by ctime/mtime: let the clock move past the previous run's second.
        await new Promise((ok) => setTimeout(ok, 1100));
        for (const k of order) {
          const run = await methods[k]!.backup(n, r);
          runs[k]!.push(run);
          log(`  round ${r + 1}/${rounds}, backup ${n + 1}: ${k}: ${(run.bytes / MB).toFixed(2)} MB in ${run.m.seconds.toFixed(1)} s, ${run.m.peakRssMB.toFixed(0)} MB`);
        }
      }
      // restore.sh restores the volume in place, so it goes last.
      for (const k of [...order.filter((x) => !x.startsWith('shipshape')), ...order.filter((x) => x.startsWith('shipshape'))]) {
        rmSync(out, { recursive: true, force: true });
        mkdirSync(out);
        const m = await methods[k]!.restore(r);
        const same = sameTree(tree(methods[k]!.restoredRoot()), afterSecond);
        res[k]!.b.push(runs[k]!);
        res[k]!.restore.push(m);
        res[k]!.same.push(same);
        log(`  round ${r + 1}/${rounds}, restore of backup 2: ${k}: ${m.seconds.toFixed(1)} s, ${m.peakRssMB.toFixed(0)} MB, same bytes: ${same}`);
      }
    }
    rmSync(out, { recursive: true, force: true });
    return {
      scale, cores: cpus().length, loadBefore, loadAfter: loadavg(), rounds, volumeMB, files, changedFiles, inPlaceMB, available, resticLocksLeft,
      methods: names.map((k) => {
        const x = res[k]!;
        const first = x.b.map((b) => b[0]!);
        const second = x.b.map((b) => b[1]!);
        const third = x.b.map((b) => b[2]!);
        const fourth = x.b.map((b) => b[3]!);
        return {
          method: k,
          firstMB: spread(first.map((b) => b.bytes / MB)).median, secondMB: spread(second.map((b) => b.bytes / MB)).median, thirdMB: spread(third.map((b) => b.bytes / MB)).median, fourthMB: spread(fourth.map((b) => b.bytes / MB)).median,
          fourthShare: spread(x.b.map((b) => b[3]!.bytes / b[0]!.bytes)), fourthSeconds: spread(fourth.map((b) => b.m.seconds)),
          secondShare: spread(x.b.map((b) => b[1]!.bytes / b[0]!.bytes)), thirdShare: spread(x.b.map((b) => b[2]!.bytes / b[0]!.bytes)),
          firstSeconds: spread(first.map((b) => b.m.seconds)), secondSeconds: spread(second.map((b) => b.m.seconds)), thirdSeconds: spread(third.map((b) => b.m.seconds)),
          restoreSeconds: spread(x.restore.map((m) => m.seconds)),
          peakRssMB: spread([...x.b.flat().map((b) => b.m.peakRssMB), ...x.restore.map((m) => m.peakRssMB)]),
          restoredSame: x.same.every(Boolean),
        };
      }),
    };
  } finally {
    host.dispose();
    client.destroy();
    await s3.stop();
    await plain.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
