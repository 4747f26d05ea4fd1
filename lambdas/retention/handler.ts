import { S3Client } from '@aws-sdk/client-s3';
import * as z from 'zod';
import { BaseEnv, parseEnv } from '../shared/env.js';
import { parseOrThrow } from '../shared/errors.js';
import { bundledFleet } from '../shared/fleet.js';
import { lambdaHandler } from '../shared/handler.js';
import { logger } from '../shared/logger.js';
import { metrics, MetricUnit } from '../shared/metrics.js';
import { applyRetention } from './retention.js';

const env = parseEnv(BaseEnv.extend({ SHIPSHAPE_BACKUP_BUCKET: z.string().min(3) }));
const fleet = bundledFleet();
const s3 = new S3Client({});
const RetentionEvent = z.object({ dryRun: z.boolean().default(false) }).passthrough();

export const handler = lambdaHandler('retention event', async (event) => {
  const { dryRun } = parseOrThrow(RetentionEvent, event ?? {}, 'retention event');
  const reports = await applyRetention(s3, { bucket: env.SHIPSHAPE_BACKUP_BUCKET, fleet, now: Date.now(), dryRun });
  let deleted = 0;
  for (const r of reports) {
    for (const d of r.decisions) logger.info('retention decision', { stack: r.stack, run: d.prefix, action: d.action, reasons: d.reasons, dryRun });
    deleted += r.decisions.filter((d) => d.action === 'delete').length;
  }
  metrics.addMetric('BackupRunsDeleted', MetricUnit.Count, dryRun ? 0 : deleted);
  return { dryRun, hosts: reports.length, runsDeleted: deleted, plan: reports.map((r) => ({ host: r.hostPrefix, delete: r.decisions.filter((d) => d.action === 'delete').map((d) => d.prefix) })) };
});
