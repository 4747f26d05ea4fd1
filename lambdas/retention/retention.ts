/**
 * Applies the retention plan to the backups bucket: one listing per host, one plan per
 * host, deletions in batches. Every decision is returned (and logged by the handler); a dry
 * run returns the same plan and deletes nothing.
 */
import { DeleteObjectsCommand, paginateListObjectsV2, type S3Client } from '@aws-sdk/client-s3';
import type { Fleet } from '../../lib/config/schema.js';
import { BACKUP_PREFIX } from '../../lib/runbooks/names.js';
import { deletionWaves, planRetention, runTime, type BackupRun, type Decision } from './plan.js';

export interface HostReport {
  readonly stack: string;
  readonly hostPrefix: string;
  readonly decisions: Decision[];
  readonly deletedObjects: number;
}

async function listKeys(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const page of paginateListObjectsV2({ client: s3 }, { Bucket: bucket, Prefix: prefix })) keys.push(...(page.Contents ?? []).map((c) => c.Key!));
  return keys;
}

/**
 * One listing per stack (no delimiter: every S3-compatible store handles that), grouped by
 * host and run: backups/<stack>/<host>/<time>/<file>.
 */
export async function applyRetention(
  s3: S3Client,
  opts: { bucket: string; fleet: Fleet; now: number; dryRun: boolean },
): Promise<HostReport[]> {
  const reports: HostReport[] = [];
  for (const stack of opts.fleet.stacks.filter((s) => s.backup)) {
    const hosts = new Map<string, Map<string, string[]>>();
    for (const key of await listKeys(s3, opts.bucket, `${BACKUP_PREFIX}/${stack.name}/`)) {
      const parts = key.split('/');
      if (parts.length < 5) continue; // not inside a run: not ours to judge
      const hostPrefix = `${parts.slice(0, 3).join('/')}/`;
      const run = `${parts.slice(0, 4).join('/')}/`;
      const runs = hosts.get(hostPrefix) ?? new Map<string, string[]>();
      runs.set(run, [...(runs.get(run) ?? []), key]);
      hosts.set(hostPrefix, runs);
    }
    for (const [hostPrefix, byRun] of hosts) {
      const runs: BackupRun[] = [];
      for (const [prefix, files] of byRun) {
        const at = runTime(prefix);
        if (at === undefined) continue;
        // <run>/depends-on/<stamp>: this run's differentials build on the run <stamp> of the same host.
        const dependsOn = files.map((f) => /^[^/]+\/[^/]+\/[^/]+\/[^/]+\/depends-on\/(\d{8}T\d{6}Z)$/.exec(f)?.[1]).filter((x) => x !== undefined).map((st) => `${hostPrefix}${st}/`);
        runs.push({ prefix, at, complete: files.some((f) => f.endsWith('/manifest.json')), verified: files.some((f) => f.endsWith('/verified.json')), dependsOn });
      }
      const decisions = planRetention(runs, stack.backup!.retention, opts.now);
      let deletedObjects = 0;
      if (!opts.dryRun) {
        // Runs that others build on go in a later wave than those others (a failed wave stops the rest).
        for (const wave of deletionWaves(runs, decisions.filter((d) => d.action === 'delete').map((d) => d.prefix))) {
          const doomed = wave.flatMap((p) => byRun.get(p) ?? []);
          for (let i = 0; i < doomed.length; i += 1000) {
            const batch = doomed.slice(i, i + 1000);
            const r = await s3.send(new DeleteObjectsCommand({ Bucket: opts.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }));
            if (r.Errors?.length) throw new Error(`could not delete ${r.Errors.length} object(s), e.g. ${r.Errors[0]!.Key}: ${r.Errors[0]!.Message}`);
            deletedObjects += batch.length;
          }
        }
      }
      reports.push({ stack: stack.name, hostPrefix, decisions, deletedObjects });
    }
  }
  return reports;
}
