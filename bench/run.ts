/** `npm run bench`: writes bench/results/latest.json and latest.md. Figures are ratios against baselines run in the same process. */
import { writeFileSync, mkdirSync } from 'node:fs';
import { benchBundles } from './bundles.js';
import { benchDispatch } from './dispatch.js';
import { benchBackup } from './backup.js';
import { benchIncremental } from './incremental.js';
import { backupMarkdown, bundlesMarkdown, incrementalMarkdown, stagesMarkdown } from './support/report.js';
import { benchStages } from './support/stages.js';
import { benchScale, BASELINE_COMMIT } from './scale.js';

mkdirSync('bench/results', { recursive: true });
const only = process.argv[2];
const started = new Date().toISOString();
const os = await import('node:os');
const out: Record<string, unknown> = { started, node: process.version, cpus: os.cpus().length, loadavg: os.loadavg() };
const md: string[] = [`# shipshape benchmarks (${started}, node ${process.version}, ${os.cpus().length} cores, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} at the start)`, ''];

if (!only || only === 'bundles') {
  console.log('bench: bundling each Lambda; cold import as a whole process, paired with an empty handler (15 rounds after 2 warm-up)...');
  const b = await benchBundles();
  out.bundles = b;
  md.push(...bundlesMarkdown(b));
  for (const fn of ['dispatcher', 'result', 'console', 'retention', 'rotation']) {
    const shipped = b.rows.find((r) => r.fn === fn && r.variant === 'shipped')!;
    const loose = b.rows.find((r) => r.fn === fn && r.variant === 'no-tree-shaking')!;
    md.push(`${fn}: tree-shaking makes the bundle ${(loose.bytes / shipped.bytes).toFixed(2)}x smaller; cold start over the empty handler ${shipped.excessMs.median.toFixed(0)} ms shipped, ${loose.excessMs.median.toFixed(0)} ms without tree-shaking (medians).`, '');
  }
}

if (!only || only === 'dispatch') {
  console.log('bench: dispatching to simulated fleets (60 ms per call, 10 SendCommand/s, burst 20)...');
  const rows = await benchDispatch();
  out.dispatch = rows;
  md.push('## Dispatch at scale (simulated SSM: 60 ms per call, 10 SendCommand/s with burst 20; virtual time)', '', '| hosts | selector | strategy | API calls | throttled | failed | time (s) | naive / shipshape time |', '|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const ours = rows.find((x) => x.hosts === r.hosts && x.selector === r.selector && x.strategy === 'shipshape')!;
    md.push(`| ${r.hosts} | ${r.selector} | ${r.strategy} | ${r.calls} | ${r.throttled} | ${r.failed} | ${r.virtualSeconds.toFixed(2)} | ${r.strategy === 'shipshape' ? '1.0x' : `${(r.virtualSeconds / ours.virtualSeconds).toFixed(1)}x`} |`);
  }
  md.push('');
}

if (!only || only === 'backup') {
  const scale = Number(process.env.BENCH_SCALE ?? '1');
  console.log(`bench: backup and restore, paired (BENCH_ROUNDS, default 5, after a warm-up) on ${Math.round(1024 * scale)} MB of files and a ${Math.round(200 * scale)} MB SQLite database...`);
  const b = await benchBackup(scale, Number(process.env.BENCH_ROUNDS ?? '5'), (s) => console.log(s));
  out.backup = b;
  md.push(...backupMarkdown(b));
}

if (only === 'restore') {
  const scale = Number(process.env.BENCH_SCALE ?? '1');
  console.log(`bench: restore alone, paired (BENCH_ROUNDS, default 5, after a warm-up) on ${Math.round(1024 * scale)} MB of files and a ${Math.round(200 * scale)} MB SQLite database...`);
  const b = await benchBackup(scale, Number(process.env.BENCH_ROUNDS ?? '5'), (s) => console.log(s), true);
  out.restore = b;
  md.push(...backupMarkdown(b));
}

if (!only || only === 'stages') {
  console.log('bench: backup pipeline stages one at a time (compressor, hash, tee, AWS CLI settings), paired...');
  const st = await benchStages(Number(process.env.BENCH_SCALE ?? '1'), Number(process.env.BENCH_ROUNDS ?? '5'), (s) => console.log(s));
  out.stages = st;
  md.push(...stagesMarkdown(st));
}

if (!only || only === 'incremental') {
  const scale = Number(process.env.BENCH_SCALE ?? '1');
  console.log(`bench: incremental backups of a ${Math.round(2048 * scale)} MB volume, 1 % of its files changed (tar --listed-incremental, restic, backup.sh; BENCH_INCREMENTAL_ROUNDS rounds, default 2)...`);
  const inc = await benchIncremental(scale, Number(process.env.BENCH_INCREMENTAL_ROUNDS ?? '2'), (s) => console.log(s));
  out.incremental = inc;
  md.push(...incrementalMarkdown(inc));
}

if (!only || only === 'scale') {
  console.log(`bench: fleet scale, this design against ${BASELINE_COMMIT} (before issue 10), 1/50/300 generated stacks...`);
  const rows = benchScale();
  out.scale = rows;
  const kb = (b?: number) => (b === undefined ? '-' : `${(b / 1024).toFixed(0)} KB`);
  const secs = (xs: number[]) => {
    if (!xs.length) return '-';
    const s = [...xs].sort((a, b) => a - b);
    return `${s[Math.floor((s.length - 1) / 2)]!.toFixed(1)} s (${s[0]!.toFixed(1)}-${s.at(-1)!.toFixed(1)})`;
  };
  md.push(`## Fleet scale (generated fleets: 5 services per stack, every feature on, longest names; "before" = ${BASELINE_COMMIT})`, '',
    '| stacks | design | cdk synth with bundling, median (min-max) | templates | resources (largest template) | largest template | largest document |', '|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const synth = r.synthError ? `fails: ${r.synthError}` : secs(r.synthSeconds);
    md.push(`| ${r.stacks} | ${r.design} | ${synth} | ${r.templates ?? '-'} | ${r.maxResources ?? (r.figuresError ? `fails: ${r.figuresError}` : '-')} | ${kb(r.maxTemplateBytes)} | ${kb(r.maxDocumentBytes)} |`);
  }
  md.push('', 'Limits: 500 resources and 1 MB per template (CloudFormation), 64 KB per document (SSM). Paired runs, interleaved now/before for each size.', '');
}

// One section on its own goes to its own file, so latest.* always hold a whole run.
const name = only ?? 'latest';
writeFileSync(`bench/results/${name}.json`, JSON.stringify(out, null, 2) + '\n');
writeFileSync(`bench/results/${name}.md`, md.join('\n') + '\n');
console.log(md.join('\n'));
