/**
 * Lambda bundles: size, and the cold import of each function as a whole process (node starts,
 * imports the bundle, exits), as shipped (minified, tree-shaken ESM) and without tree-shaking,
 * each run paired with an empty handler bundled the same way: per round, the variant and an
 * empty-handler process back to back (order alternating), rounds interleaved over all variants.
 */
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { loadFleetFile } from '../lib/config/load.js';
import { BUNDLING } from '../lib/bundling.js';
import { FLEET_FILE } from '../lib/runbooks/names.js';
import { spread, type Spread } from './support/paired.js';

export interface BundleRow { fn: string; variant: string; bytes: number; processMs: Spread; emptyMs: Spread; excessMs: Spread; ratio: Spread }
export interface BundleBench { rounds: number; cores: number; loadBefore: number[]; emptyBytes: number; rows: BundleRow[] }

const FUNCTIONS = ['dispatcher', 'result', 'console', 'retention', 'rotation'];
const env = {
  ...process.env,
  AWS_REGION: 'eu-central-1',
  SHIPSHAPE_FLEET_NAME: 'grahmos',
  SHIPSHAPE_DOCUMENTS: JSON.stringify({ 'health-check': 'HealthDoc' }),
  SHIPSHAPE_OUTPUT_BUCKET: 'bucket',
  SHIPSHAPE_ALERT_TOPIC_ARN: 'arn:aws:sns:eu-central-1:111122223333:alerts',
  SHIPSHAPE_STATE_TABLE: 'state',
  SHIPSHAPE_BACKUP_BUCKET: 'backups',
  POWERTOOLS_DEV: 'false',
};

async function bundle(entry: string, outfile: string, treeShaking: boolean, fleetJson: string): Promise<number> {
  await build({
    entryPoints: [entry], outfile, bundle: true, platform: 'node', format: BUNDLING.format, target: BUNDLING.target,
    minify: BUNDLING.minify, sourcemap: BUNDLING.sourcemap, mainFields: [...BUNDLING.mainFields], banner: { js: BUNDLING.banner },
    treeShaking, logLevel: 'silent',
  });
  // As the stack ships it: the config beside the bundle (lib/constructs/function.ts).
  writeFileSync(join(dirname(outfile), FLEET_FILE), fleetJson);
  return statSync(outfile).size;
}

/** Wall time of a whole node process that imports the bundle and exits, as a cold start pays it. */
function processMs(file: string): number {
  const code = `await import(${JSON.stringify(`file://${file}`)});`;
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { env, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`import of ${file} failed: ${r.stderr.slice(-600)}`);
  return ms;
}

export async function benchBundles(rounds = 15, warmup = 2): Promise<BundleBench> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-bundles-'));
  const fleetJson = JSON.stringify(loadFleetFile('config/grahmos.yaml'));
  const emptyEntry = join(dir, 'empty.ts');
  writeFileSync(emptyEntry, 'export const handler = async () => ({});\n');
  const empty = join(dir, 'empty', 'index.mjs');
  mkdirSync(join(dir, 'empty'));
  const emptyBytes = await bundle(emptyEntry, empty, true, fleetJson);
  const variants: { fn: string; variant: string; file: string; bytes: number }[] = [];
  for (const fn of FUNCTIONS) {
    for (const [variant, shake] of [['shipped', true], ['no-tree-shaking', false]] as const) {
      const file = join(dir, fn, variant, 'index.mjs');
      mkdirSync(join(dir, fn, variant), { recursive: true });
      variants.push({ fn, variant, file, bytes: await bundle(resolve(`lambdas/${fn}/handler.ts`), file, shake, fleetJson) });
    }
  }
  const loadBefore = loadavg();
  // Each variant is paired with an empty-handler process right before or after it (the order
  // alternates by round), so both see the same machine load; rounds go through all variants.
  const pairs = new Map(variants.map((v) => [v.file, [] as { ms: number; empty: number }[]]));
  for (let r = 0; r < warmup + rounds; r++) {
    for (const v of variants) {
      let ms: number;
      let e: number;
      if (r % 2) { ms = processMs(v.file); e = processMs(empty); } else { e = processMs(empty); ms = processMs(v.file); }
      if (r >= warmup) pairs.get(v.file)!.push({ ms, empty: e });
    }
  }
  rmSync(dir, { recursive: true, force: true });
  return {
    rounds, cores: cpus().length, loadBefore, emptyBytes,
    rows: variants.map((v) => {
      const p = pairs.get(v.file)!;
      return {
        fn: v.fn, variant: v.variant, bytes: v.bytes,
        processMs: spread(p.map((x) => x.ms)), emptyMs: spread(p.map((x) => x.empty)),
        excessMs: spread(p.map((x) => x.ms - x.empty)), ratio: spread(p.map((x) => x.ms / x.empty)),
      };
    }),
  };
}
