/**
 * Backup pipeline: throughput and peak memory of backup.sh (SQLite .backup, tar | zstd -T0 |
 * sha256 | aws s3 cp - to a local S3 server) on generated data, side by side with the seeds'
 * method (tar czf of the live files to a local file, then a copy to the destination), plus
 * compression ratio and restore throughput for both.
 */
import { specFile } from '../test/support/spec-file.js';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseFleet } from '../lib/config/load.js';
import { backupSpecLines } from '../lib/runbooks/backup.js';
import { hostScript } from '../test/support/run-script.js';
import { startS3 } from '../test/support/aws-local.js';
import { FakeHost, running } from '../test/support/fake-host.js';

export interface BackupBenchRow { method: string; inputMB: number; outputMB: number; ratio: number; seconds: number; mbPerSecond: number; peakRssMB: number; restoreSeconds: number; restoreMBPerSecond: number }

const MB = 1024 * 1024;

function sizeOf(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.size;
  return readdirSync(path).reduce((sum, f) => sum + sizeOf(join(path, f)), 0);
}

/** Runs a command in its own process group and samples the group's total RSS. */
function measure(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ seconds: number; peakRssMB: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    let peak = 0;
    const timer = setInterval(() => {
      try {
        const rss = execFileSync('ps', ['-o', 'rss=', '-g', String(child.pid)], { encoding: 'utf8' }).split('\n').map(Number).filter(Number.isFinite).reduce((a, b) => a + b, 0);
        peak = Math.max(peak, rss);
      } catch { /* the group is gone */ }
    }, 50);
    child.on('close', (code) => {
      clearInterval(timer);
      if (code !== 0) return reject(new Error(`${cmd} failed (${code}): ${stderr.slice(0, 500)}`));
      resolve({ seconds: Number(process.hrtime.bigint() - t0) / 1e9, peakRssMB: peak / 1024, stdout });
    });
  });
}

function generate(dir: string, volumeMB: number, dbMB: number): { volume: string; root: string } {
  const volume = join(dir, 'volume');
  mkdirSync(join(volume, 'logs'), { recursive: true });
  mkdirSync(join(volume, 'blobs'));
  // 40 % incompressible (uploads, images), 60 % log-like text
  const random = Math.round(volumeMB * 0.4);
  for (let i = 0; i < random; i += 8) writeFileSync(join(volume, 'blobs', `b${i}.bin`), randomBytes(Math.min(8, random - i) * MB));
  const line = (n: number) => `2026-11-21T09:${String(n % 60).padStart(2, '0')}:00Z INFO request id=${n} path=/api/v1/items/${n % 977} status=200 ms=${n % 113}\n`;
  const textMB = volumeMB - random;
  for (let f = 0; f < textMB; f += 16) {
    const chunk: string[] = [];
    let size = 0;
    for (let n = f * 100_000; size < Math.min(16, textMB - f) * MB; n++) { const l = line(n); chunk.push(l); size += l.length; }
    writeFileSync(join(volume, 'logs', `app-${f}.log`), chunk.join(''));
  }
  const root = join(dir, 'root');
  mkdirSync(join(root, 'data'), { recursive: true });
  mkdirSync(join(root, 'tmp'));
  const rows = Math.round((dbMB * MB) / 600);
  execFileSync('sqlite3', [join(root, 'data', 'app.db'), `PRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT, b BLOB); WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM s WHERE i < ${rows}) INSERT INTO t(a, b) SELECT 'item ' || i || ' ' || hex(randomblob(40)), randomblob(400) FROM s;`]);
  return { volume, root };
}

export async function benchBackup(scale = Number(process.env.BENCH_SCALE ?? '1')): Promise<BackupBenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-backup-'));
  const s3 = await startS3(['bench']);
  const host = new FakeHost();
  try {
    const { volume, root } = generate(dir, Math.round(1024 * scale), Math.round(200 * scale));
    const inputMB = (sizeOf(volume) + sizeOf(join(root, 'data'))) / MB;
    const awsBin = join(dir, 'bin');
    mkdirSync(awsBin);
    symlinkSync('/usr/bin/aws', join(awsBin, 'aws'));
    host.setContainers({ app: running({ root }) });
    host.setVolumes({ data: volume });
    const fleet = parseFleet({ fleet: 'bench', stacks: [{ name: 'app', hosts: { tag: { key: 'R', value: 'a' } }, services: [{ name: 'app', container: 'app' }],
      backup: { sqlite: [{ name: 'db', container: 'app', path: '/data/app.db' }], volumes: [{ name: 'data' }] } }] });
    const env = host.env({
      PATH: `${awsBin}:${host.env().PATH}`, SHIPSHAPE_STACK: 'app', SHIPSHAPE_SPEC_FILE: specFile({ backup: backupSpecLines(fleet.stacks[0]!.backup!) }), SHIPSHAPE_BUCKET: 'bench',
      SHIPSHAPE_S3_ENDPOINT: s3.endpoint, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_DEFAULT_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true', HOME: dir,
    });

    const ours = await measure('bash', [hostScript('backup.sh')], env);
    const result = JSON.parse(ours.stdout) as { errors: string[]; archives: { key: string; bytes: number }[] };
    if (result.errors.length) throw new Error(`backup.sh failed: ${result.errors.join('; ')}`);
    const oursOut = result.archives.reduce((s, a) => s + a.bytes, 0) / MB;
    const restoreDir = join(dir, 'restore-ours');
    mkdirSync(restoreDir);
    const volumeKey = result.archives.find((a) => a.key.endsWith('data.tar.zst'))!.key;
    const dbKey = result.archives.find((a) => a.key.endsWith('db.db.zst'))!.key;
    const oursRestore = await measure('bash', ['-c', `set -euo pipefail
      aws --endpoint-url "$SHIPSHAPE_S3_ENDPOINT" s3 cp "s3://bench/${volumeKey}" - | zstd -dc | tar -C "${restoreDir}" -xf -
      aws --endpoint-url "$SHIPSHAPE_S3_ENDPOINT" s3 cp "s3://bench/${dbKey}" - | zstd -dc > "${restoreDir}/app.db"`], env);

    // The seeds' way: tar czf of the live files to a local file, then copy it to the destination.
    const dest = join(dir, 'dest');
    mkdirSync(dest);
    const seed = await measure('bash', ['-c', `set -euo pipefail
      tar czf "${dir}/backup.tar.gz" -C "${dir}" volume root/data
      cp "${dir}/backup.tar.gz" "${dest}/"`], env);
    const seedOut = statSync(join(dest, 'backup.tar.gz')).size / MB;
    const restoreSeed = join(dir, 'restore-seed');
    mkdirSync(restoreSeed);
    const seedRestore = await measure('bash', ['-c', `tar xzf "${dest}/backup.tar.gz" -C "${restoreSeed}"`], env);

    const row = (method: string, m: { seconds: number; peakRssMB: number }, out: number, r: { seconds: number }): BackupBenchRow => ({
      method, inputMB, outputMB: out, ratio: inputMB / out, seconds: m.seconds, mbPerSecond: inputMB / m.seconds, peakRssMB: m.peakRssMB,
      restoreSeconds: r.seconds, restoreMBPerSecond: inputMB / r.seconds,
    });
    return [
      row('shipshape: sqlite .backup, tar, zstd -T0, sha256, aws s3 cp - to s3rver', ours, oursOut, oursRestore),
      row('seeds: tar czf to a local file, then cp', seed, seedOut, seedRestore),
    ];
  } finally {
    host.dispose();
    await s3.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
