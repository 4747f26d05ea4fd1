/** Markdown for the backup, incremental and bundles sections of bench/results/*.md. */
import type { BackupBench } from '../backup.js';
import type { BundleBench } from '../bundles.js';
import type { IncrementalBench } from '../incremental.js';
import type { StagesBench } from './stages.js';
import { fmt, type Spread } from './paired.js';

const x = (s: Spread) => fmt(s, 2, '×');
const sec = (s: Spread) => fmt(s, 1, ' s');
const mb = (s: Spread) => fmt(s, 0, ' MB');
const pct = (s: Spread) => fmt({ median: s.median * 100, min: s.min * 100, max: s.max * 100 }, 0, ' %');
const cell = (s: string) => s.replace(/\|/g, '\\|');
const goal = (ok: boolean) => (ok ? 'met' : '**not met**');

export function backupMarkdown(b: BackupBench): string[] {
  const r = b.ratios;
  const peakB = Math.max(...Object.entries(b.backup).filter(([k]) => k.startsWith('backup.sh')).map(([, v]) => v.peakRssMB.max));
  const peakR = Math.max(...Object.entries(b.restore).filter(([k]) => k.startsWith('restore.sh')).map(([, v]) => v.peakRssMB.max));
  const hasBackup = Object.keys(b.backup).length > 0;
  const stageKeys = [...new Set([...Object.keys(b.restoreStages.files ?? {}), ...Object.keys(b.restoreStages.s3rver ?? {})])]
    .sort((k1, k2) => (b.restoreStages.files?.[k2]?.median ?? 0) - (b.restoreStages.files?.[k1]?.median ?? 0));
  const share = (which: string, k: string) => { const v = b.restoreStages[which]?.[k]; return v ? pct(v) : '-'; };
  const rows = (section: BackupBench['restore']) => Object.entries(section).map(([k, v]) => `| ${cell(k)}${v.afterSeconds ? ` (then, after it ended: the copies set aside removed in ${sec(v.afterSeconds)})` : ''} | ${sec(v.seconds)} | ${mb(v.peakRssMB)} |`);
  return [
    `## Backup and restore (paired: ${b.rounds} rounds after ${b.warmup} warm-up, every variant once per round, interleaved; ${b.cores} cores; load average ${b.loadBefore.map((l) => l.toFixed(2)).join(' ')} before, ${b.loadAfter.map((l) => l.toFixed(2)).join(' ')} after)`,
    '',
    `Input: ${b.inputMB.toFixed(0)} MB (files: 40 % random, 60 % log text; a SQLite database in WAL mode), BENCH_SCALE=${b.scale}. Host scripts: ${b.scripts}. Archives: shipshape ${b.archiveMB.shipshape.toFixed(0)} MB (zstd -1, the default level), floor ${b.archiveMB.floor.toFixed(0)} MB, seeds ${b.archiveMB.seeds.toFixed(0)} MB (gzip). Figures are median (min–max) over the rounds; ratios are taken within each round. Peak memory is the RSS sum of the variant's whole process tree, sampled every 50 ms (the S3 servers run in their own processes, not counted).`,
    '',
    ...(hasBackup ? ['| backup | time | peak memory (process tree) |', '|---|---|---|', ...rows(b.backup), ''] : ['(backup rounds skipped: `bench/run.ts restore`)', '']),
    '| restore | time | peak memory (process tree) |', '|---|---|---|', ...rows(b.restore),
    '',
    '| ratio (per round) | measured | issue 15 goal |', '|---|---|---|',
    ...(hasBackup ? [
      `| backup.sh to s3rver / floor | ${x(r['backup.sh (s3rver) / floor']!)} | ≤ 1.5×: ${goal(r['backup.sh (s3rver) / floor']!.median <= 1.5)} |`,
      `| backup.sh to the discarding sink / floor | ${x(r['backup.sh (sink) / floor']!)} | ≤ 1.5×: ${goal(r['backup.sh (sink) / floor']!.median <= 1.5)} |`,
      `| seeds / backup.sh to s3rver (speed-up) | ${x(r['seeds / backup.sh (s3rver)']!)} | ≥ 4×: ${goal(r['seeds / backup.sh (s3rver)']!.median >= 4)} |`,
      `| seeds / backup.sh to the sink (speed-up) | ${x(r['seeds / backup.sh (sink)']!)} | ≥ 4×: ${goal(r['seeds / backup.sh (sink)']!.median >= 4)} |`,
      `| what s3rver costs: backup.sh to s3rver / to the sink | ${x(r['backup.sh (s3rver) / backup.sh (sink)']!)} | - |`,
      `| backup.sh peak memory, largest of any round | ${peakB.toFixed(0)} MB | < 150 MB: ${goal(peakB < 150)} |`,
    ] : []),
    `| restore.sh end to end to s3rver / floor | ${x(r['restore.sh (s3rver) / floor']!)} | ≤ 2×: ${goal(r['restore.sh (s3rver) / floor']!.median <= 2)} |`,
    `| restore.sh end to end to the files endpoint / floor | ${x(r['restore.sh (files) / floor']!)} | ≤ 2×: ${goal(r['restore.sh (files) / floor']!.median <= 2)} |`,
    `| the same with the removal of the copies set aside after the run (untimed above), s3rver | ${x(r['restore.sh (s3rver) and the removal after it / floor']!)} | - |`,
    `| the same with that removal, files endpoint | ${x(r['restore.sh (files) and the removal after it / floor']!)} | - |`,
    `| tar xzf / restore.sh to s3rver (speed-up) | ${x(r['tar xzf / restore.sh (s3rver)']!)} | ≥ 1.5×: ${goal(r['tar xzf / restore.sh (s3rver)']!.median >= 1.5)} |`,
    `| tar xzf / restore.sh to the files endpoint (speed-up) | ${x(r['tar xzf / restore.sh (files)']!)} | ≥ 1.5×: ${goal(r['tar xzf / restore.sh (files)']!.median >= 1.5)} |`,
    `| what s3rver costs: restore.sh to s3rver / to the files endpoint | ${x(r['restore.sh (s3rver) / restore.sh (files)']!)} | - |`,
    `| restore.sh peak memory, largest of any round | ${peakR.toFixed(0)} MB | < 150 MB: ${goal(peakR < 150)} |`,
    '',
    'The files endpoint (bench/support/s3-files.ts) serves the same objects from a directory with sendfile(2) (a Python process: ~0.03 s of CPU per 237 MB, where a Node server took ~0.3 s): restore.sh against it is the script\'s own cost.',
    '',
    'Where restore.sh spends its time (share of the run, from its stage markers):',
    '',
    '| stage | share, files endpoint | share, s3rver |', '|---|---|---|',
    ...stageKeys.map((k) => `| ${k} | ${share('files', k)} | ${share('s3rver', k)} |`),
    '',
    ...(hasBackup ? [
      'Where backup.sh (to the sink) spends its time:',
      '',
      '| stage | share |', '|---|---|',
      ...Object.entries(b.backupStages).sort(([, a], [, c]) => c.median - a.median).map(([k, v]) => `| ${k} | ${pct(v)} |`),
      '',
    ] : []),
  ];
}

export function incrementalMarkdown(inc: IncrementalBench): string[] {
  const pct2 = (s: Spread) => fmt({ median: s.median * 100, min: s.min * 100, max: s.max * 100 }, 2, ' %');
  const rows = inc.methods.map((m) => `| ${cell(m.method)} | ${m.firstMB.toFixed(1)} MB in ${sec(m.firstSeconds)} | ${m.secondMB.toFixed(2)} MB in ${sec(m.secondSeconds)} | ${pct2(m.secondShare)} | ${m.thirdMB.toFixed(2)} MB in ${sec(m.thirdSeconds)} (${pct2(m.thirdShare)}) | ${m.fourthMB.toFixed(2)} MB in ${sec(m.fourthSeconds)} (${pct2(m.fourthShare)}) | ${mb(m.peakRssMB)} | ${sec(m.restoreSeconds)} | ${m.restoredSame ? 'yes' : '**no**'} |`);
  return [
    `## Incremental backups (${inc.cores} cores; load average ${inc.loadBefore.map((l) => l.toFixed(2)).join(' ')} before, ${inc.loadAfter.map((l) => l.toFixed(2)).join(' ')} after; ${inc.rounds} rounds, methods interleaved per round)`,
    '',
    `A ${inc.volumeMB.toFixed(0)} MB volume of ${inc.files} files (BENCH_SCALE=${inc.scale}); between the first and the second backup ${inc.changedFiles} files (1 %) change, half rewritten, half appended to, and one file is deleted and one created. ` +
      `The volume holds a ${inc.inPlaceMB.toFixed(0)} MB database-like file (random bytes); before the third backup 1 % of its 4 KiB pages, at random places, are rewritten in place; before the fourth, 1 % of its pages as one contiguous run, and 1 % of its size is appended (a database that mostly grows). Uploaded bytes: tar, the zstd -3 archives; restic, the bytes added to its S3 repository on s3rver; shipshape, every object of the run (archives, depends-on markers, manifest). ` +
      'Restore of the second backup (tar: the full, then the level-1 archive; restic: restore of the second snapshot; shipshape: restore.sh of the second run, in place, which reads the full and the differential) is compared file by file (SHA-256, mode) with the volume as it was at the second backup.',
    '',
    '| method | first backup: uploaded, time | second (1 % of files changed) | second / first | third (1 % of the database-like file\'s pages, scattered) | fourth (1 % of its pages in one run, and 1 % appended) | peak memory (process tree), over all its runs | restore of the second | restored = volume |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
    `Tools: ${inc.available.tar}; ${inc.available.restic}. restic lock objects left under locks/ after its backups: ${inc.resticLocksLeft} (each backup creates one and deletes it: restic needs s3:DeleteObject on its locks/ prefix).`,
    '',
    `Goal (issue 15): a second backup with 1 % of the files changed uploads ≤ 5 % of the first and restores to the same bytes as a full one.`,
    '',
  ];
}

export function bundlesMarkdown(b: BundleBench): string[] {
  const out = [
    `## Lambda cold import (whole process: node starts, imports the bundle, exits; paired with an empty handler bundled the same way, ${b.rounds} rounds, interleaved; ${b.cores} cores, load average ${b.loadBefore.map((l) => l.toFixed(2)).join(' ')})`,
    '',
    '| function | variant | size (KiB) | process time | empty handler, same rounds | excess over empty (per round) | ratio to empty (per round) |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const r of b.rows) out.push(`| ${r.fn} | ${r.variant} | ${(r.bytes / 1024).toFixed(1)} | ${fmt(r.processMs, 0, ' ms')} | ${fmt(r.emptyMs, 0, ' ms')} | ${fmt(r.excessMs, 0, ' ms')} | ${x(r.ratio)} |`);
  out.push('', `The empty handler's bundle is ${(b.emptyBytes / 1024).toFixed(1)} KiB.`, '');
  return out;
}

export function stagesMarkdown(b: StagesBench): string[] {
  const out = [
    `## Backup pipeline stages (paired: ${b.rounds} rounds after a warm-up, interleaved within each group; ${b.cores} cores; load average ${b.loadBefore.map((l) => l.toFixed(2)).join(' ')} before, ${b.loadAfter.map((l) => l.toFixed(2)).join(' ')} after)`,
    '',
    `Input: the backup bench's data as one ${b.tarMB.toFixed(0)} MB tar stream and its ${b.zstMB.toFixed(0)} MB zstd -3 archive (BENCH_SCALE=${b.scale}), from the page cache. Uploads go to the discarding sink, downloads come from s3rver. AWS CLI settings through AWS_CONFIG_FILE (s3: multipart_chunksize, max_concurrent_requests, max_queue_size, payload_signing_enabled).`,
    '',
    '| stage | variant | time | ratio to the group\'s first row (per round) | peak memory (process tree) |',
    '|---|---|---|---|---|',
  ];
  for (const r of b.rows) out.push(`| ${r.group} | ${cell(r.variant)} | ${sec(r.seconds)} | ${x(r.vsBaseline)} | ${mb(r.peakRssMB)} |`);
  out.push('');
  return out;
}
