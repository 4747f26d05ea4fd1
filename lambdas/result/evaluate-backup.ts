/**
 * Backup evaluator: what the host reported (pure), then what S3 holds (verifyBackup): the
 * manifest must be there, every archive must have the reported size, the SHA-256 checksum S3
 * keeps for it (when S3 gives one of the same kind) and, up to a size limit, the reported
 * checksum of its bytes (the SHA-256, or a multipart upload's composite: lib/results/checksum.ts). A differential (level 1) counts only when its base, the full
 * it applies on top of, is in S3 with the size and (up to the same limit) the SHA-256 its own
 * run's manifest gives, and that run is verified: a restore needs both. A verified run gets a
 * verified.json marker next to its manifest; retention trusts only runs that have one.
 */
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type HeadObjectCommandOutput, type S3Client } from '@aws-sdk/client-s3';
import type { Fleet, Stack } from '../../lib/config/schema.js';
import { BackupManifest, type BackupResult } from '../../lib/results/backup.js';
import { partLayout, s3ChecksumSha256, StreamChecksum } from '../../lib/results/checksum.js';
import type { Finding } from '../../lib/results/findings.js';
import type { StateStore } from './state-store.js';

const crit = (check: string, target: string, observed: Finding['observed'], threshold: Finding['threshold'], message: string): Finding =>
  ({ check, target, severity: 'critical', observed, threshold, message });

export function evaluateBackup(result: BackupResult, _fleet: Fleet, stack: Stack): Finding[] {
  const out: Finding[] = [];
  const b = stack.backup;
  const sources = b ? [...b.sqlite.map((s) => s.name), ...b.postgres.map((s) => s.name), ...b.volumes.map((v) => v.name), ...b.paths.map((p) => p.name)] : result.archives.map((a) => a.name);
  const explained = new Set<string>();
  for (const name of sources) {
    const a = result.archives.find((x) => x.name === name);
    const error = a?.error ?? result.errors.find((e) => e.startsWith(`${name}: `));
    if (error) explained.add(error);
    if (a?.ok) out.push({ check: 'backup.archive', target: name, severity: 'ok', observed: a.bytes, threshold: null, message: `${name} archived (${a.bytes ?? '?'} bytes)` });
    else out.push(crit('backup.archive', name, error ?? 'not archived', 'archived', `${name} was not backed up: ${error ?? 'the run ended before it'}`));
  }
  for (const r of result.restarts) {
    const ok = r.started && r.state === 'running' && (r.health === 'healthy' || r.health === 'none');
    out.push(ok
      ? { check: 'backup.restart', target: r.container, severity: 'ok', observed: r.health, threshold: 'running', message: `${r.container} is running again` }
      : crit('backup.restart', r.container, `${r.state ?? '?'}/${r.health ?? '?'}`, 'running and healthy', `${r.container} was stopped for the backup and is not healthy again (${r.state ?? '?'}, ${r.health ?? '?'}): start it now`));
    result.errors.filter((e) => e.includes(`container ${r.container} `)).forEach((e) => explained.add(e));
    if (r.killed) {
      out.push({ check: 'backup.stop', target: r.container, severity: 'warning', observed: 'killed', threshold: `stopped within ${b?.stopTimeoutSeconds ?? 60} s`,
        message: `${r.container} did not stop on SIGTERM within stopTimeoutSeconds (${b?.stopTimeoutSeconds ?? 60} s) and was killed for the backup: raise stopTimeoutSeconds or make it handle SIGTERM` });
    }
  }
  for (const c of result.leftStopped ?? []) {
    out.push({ check: 'backup.stop', target: c, severity: 'ok', observed: 'already stopped', threshold: null, message: `${c} was already stopped before the backup and was left stopped` });
  }
  // A run reported complete must be restorable: every archive with a size and a SHA-256.
  if (result.complete) {
    for (const a of result.archives.filter((x) => !x.ok || x.bytes === null || x.sha256 === null)) {
      out.push(crit('backup.archive', a.name, 'no size or checksum', 'size and SHA-256', `${a.name} is in a run reported complete without a size or SHA-256 from the host: the run cannot be trusted for a restore`));
    }
  }
  for (const e of result.errors) {
    if (!explained.has(e)) out.push(crit('backup.run', result.host, e, null, `backup problem: ${e}`));
  }
  out.push(result.complete
    ? { check: 'backup.complete', target: result.prefix, severity: 'ok', observed: 'manifest written', threshold: null, message: 'backup complete' }
    : crit('backup.complete', result.prefix, 'no manifest', 'manifest written', `backup of ${result.stack} on ${result.host} is incomplete: no manifest was written, so this run cannot be restored from`));
  return out;
}

export interface VerifyOptions {
  /** Archives up to this size are downloaded and hashed; larger ones are checked by size. */
  readonly checksumMaxBytes: number;
  readonly now: number;
}

/** The object's checksum in the form of <expected> (the SHA-256, or a multipart upload's composite). */
async function checksumOfObject(s3: Pick<S3Client, 'send'>, bucket: string, key: string, expected: string): Promise<string> {
  const obj = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const sum = new StreamChecksum(expected);
  for await (const chunk of obj.Body as AsyncIterable<Uint8Array>) sum.update(chunk);
  return sum.digest();
}

/**
 * Why S3's own checksum of the object (HeadObject with ChecksumMode ENABLED: the one it checked
 * the upload against) differs from the host's, or undefined when it matches or S3 has none to
 * give (an object uploaded without one, an S3-compatible store).
 */
function s3ChecksumProblem(head: HeadObjectCommandOutput, key: string, expected: string): string | undefined {
  if (!s3ChecksumComparable(head, expected)) return undefined;
  const want = s3ChecksumSha256(expected);
  return head.ChecksumSHA256 === want ? undefined : `${key} has the SHA-256 checksum ${head.ChecksumSHA256} in S3, not the ${want} of the bytes the host uploaded`;
}

/** S3 gives a SHA-256 of the same kind as the host's: both of the whole object, or both composite (the AWS CLI's own multipart uploads are neither). */
const s3ChecksumComparable = (head: HeadObjectCommandOutput, expected: string): boolean =>
  head.ChecksumSHA256 !== undefined && head.ChecksumSHA256.includes('-') === (partLayout(expected) !== null);

const runOf = (key: string) => key.slice(0, key.lastIndexOf('/'));

/**
 * Why the base of a level-1 archive cannot carry a restore, or undefined when it can: the
 * base's run has a manifest naming it as a full with the SHA-256 the differential names, the
 * object is in S3 with that manifest's size (and SHA-256, up to the size limit), and the run
 * is verified.
 */
async function baseProblem(s3: Pick<S3Client, 'send'>, bucket: string, a: BackupManifest['archives'][number], checksumMaxBytes: number): Promise<string | undefined> {
  if (!a.baseKey || !a.baseSha256) return `${a.key} is a differential without a base (baseKey and baseSha256)`;
  const run = runOf(a.baseKey);
  const head = (Key: string) => s3.send(new HeadObjectCommand({ Bucket: bucket, Key, ChecksumMode: 'ENABLED' })).catch(() => undefined);
  let base: BackupManifest['archives'][number] | undefined;
  try {
    const obj = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: `${run}/manifest.json` }));
    base = BackupManifest.parse(JSON.parse(await obj.Body!.transformToString())).archives.find((x) => x.key === a.baseKey);
  } catch {
    return `the base of ${a.key}, ${a.baseKey}, has no readable manifest at ${run}/manifest.json`;
  }
  if (!base || !base.ok || (base.level ?? 0) !== 0 || base.bytes === null) return `the base of ${a.key}, ${a.baseKey}, is not a full archive in its run's manifest`;
  if (base.sha256 !== a.baseSha256) return `the base of ${a.key}, ${a.baseKey}, has SHA-256 ${base.sha256 ?? 'none'} in its manifest, not the ${a.baseSha256} the differential was made on`;
  const object = await head(a.baseKey);
  if (!object) return `the base of ${a.key}, ${a.baseKey}, is missing from S3`;
  if (object.ContentLength !== base.bytes) return `the base of ${a.key}, ${a.baseKey}, is ${object.ContentLength} bytes in S3 but ${base.bytes} in its manifest`;
  if (!(await head(`${run}/verified.json`))) return `the base of ${a.key}, ${a.baseKey}, belongs to a run that is not verified (${run}/verified.json is missing)`;
  if (base.sha256 && s3ChecksumProblem(object, a.baseKey, base.sha256)) return `the base of ${a.key}, ${a.baseKey}, does not match its checksum in S3: the copy in S3 is damaged`;
  if (base.sha256 && base.bytes <= checksumMaxBytes && (await checksumOfObject(s3, bucket, a.baseKey, base.sha256)) !== base.sha256) return `the base of ${a.key}, ${a.baseKey}, does not match its SHA-256: the copy in S3 is damaged`;
  return undefined;
}

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s.length ? (s[Math.floor((s.length - 1) / 2)]! + s[Math.ceil((s.length - 1) / 2)]!) / 2 : 0; };

/** Checks S3 against the host's report; marks the run verified when everything matches. */
export async function verifyBackup(s3: Pick<S3Client, 'send'>, store: StateStore, result: BackupResult, stack: Stack, opts: VerifyOptions): Promise<Finding[]> {
  if (!result.complete || !result.manifestKey) return [];
  const out: Finding[] = [];
  let manifest: BackupManifest;
  try {
    const obj = await s3.send(new GetObjectCommand({ Bucket: result.bucket, Key: result.manifestKey }));
    manifest = BackupManifest.parse(JSON.parse(await obj.Body!.transformToString()));
  } catch (err) {
    return [crit('backup.verify', result.manifestKey, (err as Error).name ?? 'unreadable', 'readable manifest', `the manifest ${result.manifestKey} cannot be read or does not match its schema`)];
  }
  const checked: { key: string; bytes: number; sha256: string; checksumVerified: boolean }[] = [];
  const bases = new Map<string, string | undefined>();
  for (const a of manifest.archives) {
    const head = await s3.send(new HeadObjectCommand({ Bucket: result.bucket, Key: a.key, ChecksumMode: 'ENABLED' })).catch(() => undefined);
    if (!head) { out.push(crit('backup.verify', a.name, 'missing', 'present', `${a.key} is listed in the manifest but not in S3`)); continue; }
    if (a.bytes === null || a.sha256 === null) { out.push(crit('backup.verify', a.name, 'no size or checksum', 'size and SHA-256', `${a.key} has no ${a.bytes === null ? 'size' : 'SHA-256'} in the manifest: the host did not finish counting it, so the run is not verified`)); continue; }
    if (head.ContentLength !== a.bytes) { out.push(crit('backup.verify', a.name, head.ContentLength ?? null, a.bytes, `${a.key} is ${head.ContentLength} bytes in S3 but ${a.bytes} on the host`)); continue; }
    const s3Problem = s3ChecksumProblem(head, a.key, a.sha256);
    if (s3Problem) { out.push(crit('backup.verify', a.name, head.ChecksumSHA256 ?? null, s3ChecksumSha256(a.sha256), `${s3Problem}: the copy in S3 is not what was uploaded`)); continue; }
    let checksumVerified = s3ChecksumComparable(head, a.sha256);
    if ((a.bytes ?? 0) <= opts.checksumMaxBytes) {
      const sha = await checksumOfObject(s3, result.bucket, a.key, a.sha256);
      if (sha !== a.sha256) { out.push(crit('backup.verify', a.name, sha, a.sha256, `${a.key} does not match its checksum from the host: the copy in S3 is damaged`)); continue; }
      checksumVerified = true;
    }
    if (a.level === 1) {
      if (!bases.has(a.baseKey ?? '')) bases.set(a.baseKey ?? '', await baseProblem(s3, result.bucket, a, opts.checksumMaxBytes));
      const problem = bases.get(a.baseKey ?? '');
      if (problem) { out.push(crit('backup.verify', a.name, 'base unusable', 'base full verified', `${problem}: this differential cannot be restored, so the run is not verified (the next run makes a full)`)); continue; }
    }
    checked.push({ key: a.key, bytes: a.bytes ?? 0, sha256: a.sha256 ?? '', checksumVerified });
    out.push({ check: 'backup.verify', target: a.name, severity: 'ok', observed: checksumVerified ? 'size and sha256 match' : 'size matches', threshold: null, message: `${a.key} verified` });
  }
  if (out.some((f) => f.severity === 'critical')) return out;

  // Size drop against recent verified runs of the same source on this host.
  const history = await store.backupSizes(result.stack, result.host);
  const dropPercent = stack.backup?.sizeDropPercent ?? 50;
  for (const a of manifest.archives) {
    // A differential holds what changed since its full: its size says nothing about lost data.
    if (a.level === 1) {
      out.push({ check: 'backup.size', target: a.name, severity: 'ok', observed: a.bytes, threshold: null, message: `${a.name} is a differential (${a.bytes ?? '?'} bytes on top of ${a.baseKey ?? '?'}); its size is not compared` });
      continue;
    }
    const past = history[a.name] ?? [];
    const m = median(past);
    if (past.length >= 3 && m > 0 && (a.bytes ?? 0) < m * (1 - dropPercent / 100)) {
      out.push({ check: 'backup.size', target: a.name, severity: 'warning', observed: a.bytes, threshold: `>= ${Math.round(m * (1 - dropPercent / 100))} bytes`,
        message: `${a.name} is ${Math.round((1 - (a.bytes ?? 0) / m) * 100)}% smaller than the median of its last ${past.length} backups; check that data was not lost or excluded` });
    } else {
      out.push({ check: 'backup.size', target: a.name, severity: 'ok', observed: a.bytes, threshold: null, message: `${a.name} size is in line with recent backups` });
    }
  }
  // Differentials are recorded apart (<name>@1), so the history of fulls stays comparable.
  const fresh = await store.recordBackupSizes(result.stack, result.host, Object.fromEntries(manifest.archives.map((a) => [a.level === 1 ? `${a.name}@1` : a.name, a.bytes ?? 0])), result.runId);
  // A redelivered event: this run's sizes and marker are already there.
  if (!fresh && manifest.archives.length) return out;
  const marker = result.manifestKey.replace(/manifest\.json$/, 'verified.json');
  await s3.send(new PutObjectCommand({
    Bucket: result.bucket, Key: marker, ContentType: 'application/json',
    Body: JSON.stringify({ verifiedAt: new Date(opts.now).toISOString(), runId: result.runId, archives: checked }),
  }));
  return out;
}
