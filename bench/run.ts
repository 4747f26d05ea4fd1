/** `npm run bench`: writes bench/results/latest.json and latest.md. Figures are ratios against baselines run in the same process. */
import { writeFileSync, mkdirSync } from 'node:fs';
import { benchBundles } from './bundles.js';
import { benchDispatch } from './dispatch.js';
import { benchBackup, type BackupBenchRow } from './backup.js';
import { benchScale, BASELINE_COMMIT } from './scale.js';

mkdirSync('bench/results', { recursive: true });
const only = process.argv[2];
const started = new Date().toISOString();
const out: Record<string, unknown> = { started, node: process.version, cpus: (await import('node:os')).cpus().length };
const md: string[] = [`# shipshape benchmarks (${started}, node ${process.version})`, ''];

if (!only || only === 'bundles') {
  console.log('bench: bundling and importing each Lambda (15 cold imports per variant)...');
  const rows = await benchBundles();
  out.bundles = rows;
  const floor = rows.find((r) => r.fn === 'empty')!;
  md.push('## Lambda bundles', '', '| function | variant | size (KiB) | size vs floor | cold import median (ms) | p90 (ms) | import vs floor |', '|---|---|---|---|---|---|---|');
  for (const r of rows) {
    md.push(`| ${r.fn} | ${r.variant} | ${(r.bytes / 1024).toFixed(1)} | ${(r.bytes / floor.bytes).toFixed(0)}x | ${r.importMsMedian.toFixed(1)} | ${r.importMsP90.toFixed(1)} | ${(r.importMsMedian / floor.importMsMedian).toFixed(1)}x |`);
  }
  for (const fn of ['dispatcher', 'result', 'console', 'retention', 'rotation']) {
    const shipped = rows.find((r) => r.fn === fn && r.variant === 'shipped')!;
    const loose = rows.find((r) => r.fn === fn && r.variant === 'no-tree-shaking')!;
    md.push('', `${fn}: tree-shaking makes the bundle ${(loose.bytes / shipped.bytes).toFixed(2)}x smaller and the cold import ${(loose.importMsMedian / shipped.importMsMedian).toFixed(2)}x faster.`);
  }
  md.push('');
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
  console.log(`bench: backup pipeline on ${Number(process.env.BENCH_SCALE ?? '1') * 1024} MB of files and a ${Number(process.env.BENCH_SCALE ?? '1') * 200} MB SQLite database...`);
  const rows = await benchBackup();
  out.backup = rows;
  const [ours, seed] = rows as [BackupBenchRow, BackupBenchRow];
  md.push('## Backup pipeline (generated data; 2 cores)', '', '| method | input (MB) | archive (MB) | ratio | time (s) | MB/s | peak RSS (MB) | restore (s) | restore MB/s |', '|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) md.push(`| ${r.method} | ${r.inputMB.toFixed(0)} | ${r.outputMB.toFixed(0)} | ${r.ratio.toFixed(2)} | ${r.seconds.toFixed(1)} | ${r.mbPerSecond.toFixed(0)} | ${r.peakRssMB.toFixed(0)} | ${r.restoreSeconds.toFixed(1)} | ${r.restoreMBPerSecond.toFixed(0)} |`);
  md.push('', `shipshape backs up ${(seed.seconds / ours.seconds).toFixed(2)}x as fast as the seeds' method and restores ${(seed.restoreSeconds / ours.restoreSeconds).toFixed(2)}x as fast, with a consistent database copy, checksums and an off-host upload included.`, '');
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
