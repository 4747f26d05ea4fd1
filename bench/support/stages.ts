/**
 * The backup pipeline's stages one at a time, paired and interleaved, so the next tuning step
 * can be chosen by measurement without touching backup.sh: the compressor level, the hash, the
 * tee fan-out, and the AWS CLI's upload and download with the settings an AWS_CONFIG_FILE can
 * give it (multipart chunk size, concurrency, queue size, payload signing). Input: the generated
 * data of bench/backup.ts as one tar stream (and its zstd -3 archive), read from the page cache.
 * Uploads go to the discarding sink (the CLI's own cost); downloads come from s3rver. The same
 * against lib/host-scripts/lib/s3.sh's curl transport (what the scripts use when curl can sign).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from '../backup.js';
import { paired, ratio, stat, type Spread } from './paired.js';
import { measureBash, type Measured } from './process-tree.js';
import { startServerProcess } from './servers.js';

const MB = 1024 * 1024;

export interface StageRow { group: string; variant: string; seconds: Spread; peakRssMB: Spread; vsBaseline: Spread }
export interface StagesBench { scale: number; cores: number; loadBefore: number[]; loadAfter: number[]; rounds: number; tarMB: number; zstMB: number; rows: StageRow[] }

/** AWS CLI configurations an AWS_CONFIG_FILE written by backup.sh could hold. */
const CONFIGS: Record<string, string> = {
  default: '',
  'payload signing off': 'payload_signing_enabled = false',
  'chunk 5 MB, 2 concurrent, queue 1, signing off': 'multipart_chunksize = 5MB\n  max_concurrent_requests = 2\n  max_queue_size = 1\n  payload_signing_enabled = false',
  'chunk 8 MB, 2 concurrent, queue 2, signing off': 'multipart_chunksize = 8MB\n  max_concurrent_requests = 2\n  max_queue_size = 2\n  payload_signing_enabled = false',
  'chunk 16 MB, 4 concurrent, queue 4, signing off': 'multipart_chunksize = 16MB\n  max_concurrent_requests = 4\n  max_queue_size = 4\n  payload_signing_enabled = false',
  'chunk 64 MB, 2 concurrent, queue 2, signing off': 'multipart_chunksize = 64MB\n  max_concurrent_requests = 2\n  max_queue_size = 2\n  payload_signing_enabled = false',
};

/** Sources s3.sh with its curl transport against an endpoint, as the host scripts do. */
const CURL_S3 = (endpoint: string) => `set -euo pipefail; export SHIPSHAPE_S3_TRANSPORT=curl SHIPSHAPE_S3_ENDPOINT="${endpoint}" BUCKET=bench; . "$LIB/common.sh"; . "$LIB/s3.sh"`;

export async function benchStages(scale = Number(process.env.BENCH_SCALE ?? '1'), rounds = Number(process.env.BENCH_ROUNDS ?? '5'), log: (s: string) => void = console.log): Promise<StagesBench> {
  const loadBefore = loadavg();
  const dir = mkdtempSync(join(tmpdir(), 'bench-stages-'));
  const sink = await startServerProcess('sink', ['bench']);
  const s3 = await startServerProcess('s3rver', ['bench']);
  try {
    log(`  generating ${Math.round(1024 * scale)} MB of files and a ${Math.round(200 * scale)} MB SQLite database`);
    generate(dir, Math.round(1024 * scale), Math.round(200 * scale));
    execFileSync('bash', ['-c', `set -euo pipefail; tar -C "${dir}" -cf "${dir}/stream.tar" volume root/data; zstd -q -T0 -3 < "${dir}/stream.tar" > "${dir}/stream.tar.zst"; rm -rf "${dir}/volume" "${dir}/root"`]);
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    symlinkSync('/usr/bin/aws', join(bin, 'aws'));
    const configs = Object.fromEntries(Object.entries(CONFIGS).map(([name, body], i) => {
      const file = join(dir, `aws-config-${i}`);
      writeFileSync(file, `[default]\nregion = us-east-1\ns3 =\n  ${body || 'max_concurrent_requests = 10'}\n`);
      return [name, file];
    }));
    const env = (extra: Record<string, string> = {}) => ({
      ...process.env, PATH: `${bin}:${process.env.PATH}`, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_DEFAULT_REGION: 'us-east-1',
      AWS_EC2_METADATA_DISABLED: 'true', HOME: dir, LIB: join(process.cwd(), 'lib', 'host-scripts', 'lib'), T: join(dir, 'stream.tar'), Z: join(dir, 'stream.tar.zst'), SINK: sink.endpoint, S3: s3.endpoint, OUT: join(dir, 'out'), ...extra,
    });
    execFileSync('bash', ['-c', 'aws --endpoint-url "$S3" s3 cp "$Z" s3://bench/stream.tar.zst --only-show-errors'], { env: env() });
    const groups: { group: string; baseline: string; variants: Record<string, string> }[] = [
      { group: 'compress the tar stream', baseline: 'zstd -T0 -3', variants: {
        'zstd -T0 -3': 'zstd -q -T0 -3 < "$T" > /dev/null',
        'zstd -T0 -1': 'zstd -q -T0 -1 < "$T" > /dev/null',
        'zstd -T0 -2': 'zstd -q -T0 -2 < "$T" > /dev/null',
      } },
      { group: 'hash and count the archive', baseline: 'cat > /dev/null', variants: {
        'cat > /dev/null': 'cat "$Z" > /dev/null',
        'sha256sum': 'sha256sum < "$Z" > /dev/null',
        'openssl dgst -sha256': 'openssl dgst -sha256 -r < "$Z" > /dev/null',
        'tee to sha256sum and wc (as backup.sh)': 'tee >(sha256sum > /dev/null) >(wc -c > /dev/null) < "$Z" > /dev/null',
        'tee to openssl and wc': 'tee >(openssl dgst -sha256 -r > /dev/null) >(wc -c > /dev/null) < "$Z" > /dev/null',
      } },
      { group: 'upload the archive from stdin to the discarding sink', baseline: 'cat > file', variants: {
        'cat > file': 'cat < "$Z" > "$OUT"',
        's3_put (curl), 16 MiB parts': `${CURL_S3('$SINK')}; s3_put up.tar.zst < "$Z"`,
        's3_put (curl), 64 MiB parts': `SHIPSHAPE_S3_PART_BYTES=67108864; ${CURL_S3('$SINK')}; s3_put up.tar.zst < "$Z"`,
        ...Object.fromEntries(Object.entries(configs).map(([name, file]) => [`aws s3 cp -, ${name}`, `AWS_CONFIG_FILE="${file}" aws --endpoint-url "$SINK" s3 cp - s3://bench/up.tar.zst --only-show-errors --no-progress < "$Z"`])),
      } },
      { group: 'download the archive to stdout from s3rver', baseline: 'cat file', variants: {
        'cat file': 'cat "$Z" > /dev/null',
        's3_get (curl)': `${CURL_S3('$S3')}; s3_get stream.tar.zst > /dev/null`,
        ...Object.fromEntries(Object.entries(configs).filter(([n]) => n !== 'payload signing off').map(([name, file]) => [`aws s3 cp … -, ${name}`, `AWS_CONFIG_FILE="${file}" aws --endpoint-url "$S3" s3 cp s3://bench/stream.tar.zst - --only-show-errors --no-progress > /dev/null`])),
      } },
    ];
    const rows: StageRow[] = [];
    for (const g of groups) {
      log(`  ${g.group}`);
      const res = await paired<Measured>(Object.entries(g.variants).map(([name, script]) => ({ name, run: () => measureBash(script, env()), after: () => rmSync(join(dir, 'out'), { force: true }) })), rounds, 1, log);
      for (const name of Object.keys(g.variants)) {
        rows.push({ group: g.group, variant: name, seconds: stat(res, name, (s) => s.seconds), peakRssMB: stat(res, name, (s) => s.peakRssMB), vsBaseline: ratio(res, name, g.baseline) });
      }
    }
    return { scale, cores: cpus().length, loadBefore, loadAfter: loadavg(), rounds, tarMB: statSync(join(dir, 'stream.tar')).size / MB, zstMB: statSync(join(dir, 'stream.tar.zst')).size / MB, rows };
  } finally {
    await sink.stop();
    await s3.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
