/**
 * Lambda bundles: size, and cold import time in a fresh node process, for each function
 * as shipped (minified, tree-shaken ESM), the same without tree-shaking, and an empty
 * handler bundled the same way (the floor). Variants run interleaved in one run.
 */
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { loadFleetFile } from '../lib/config/load.js';
import { BUNDLING } from '../lib/bundling.js';
import { FLEET_FILE } from '../lib/runbooks/names.js';

export interface BundleRow { fn: string; variant: string; bytes: number; importMsMedian: number; importMsP90: number }

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

function importMs(file: string): number {
  const code = `const t = performance.now(); await import(${JSON.stringify(`file://${file}`)}); process.stdout.write(String(performance.now() - t));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`import of ${file} failed: ${r.stderr.slice(-600)}`);
  return Number(r.stdout);
}

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

export async function benchBundles(runs = 15): Promise<BundleRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-bundles-'));
  const fleetJson = JSON.stringify(loadFleetFile('config/grahmos.yaml'));
  const emptyEntry = join(dir, 'empty.ts');
  writeFileSync(emptyEntry, 'export const handler = async () => ({});\n');
  const variants: { fn: string; variant: string; file: string; bytes: number }[] = [];
  const floor = join(dir, 'empty', 'index.mjs');
  mkdirSync(join(dir, 'empty'));
  variants.push({ fn: 'empty', variant: 'floor', file: floor, bytes: await bundle(emptyEntry, floor, true, fleetJson) });
  for (const fn of FUNCTIONS) {
    for (const [variant, shake] of [['shipped', true], ['no-tree-shaking', false]] as const) {
      const file = join(dir, fn, variant, 'index.mjs');
      mkdirSync(join(dir, fn, variant), { recursive: true });
      variants.push({ fn, variant, file, bytes: await bundle(resolve(`lambdas/${fn}/handler.ts`), file, shake, fleetJson) });
    }
  }
  const times = new Map(variants.map((v) => [v.file, [] as number[]]));
  for (let i = 0; i < runs; i++) for (const v of variants) times.get(v.file)!.push(importMs(v.file));
  return variants.map((v) => ({ fn: v.fn, variant: v.variant, bytes: v.bytes, importMsMedian: quantile(times.get(v.file)!, 0.5), importMsP90: quantile(times.get(v.file)!, 0.9) }));
}
