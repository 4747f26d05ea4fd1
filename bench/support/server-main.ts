/**
 * Child-process entry of servers.ts: `server-main.ts s3rver|s3rver-tls|sink|files bucket...`; prints
 * "listening <endpoint>". files serves the directory BENCH_FILES_DIR (<dir>/<bucket>/<key>) read-only. s3rver-tls serves HTTPS with the certificate and key in
 * BENCH_TLS_CERT and BENCH_TLS_KEY (files): restic's S3 client (minio-go) signs uploads over
 * plain HTTP in the aws-chunked streaming format, which s3rver stores undecoded.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// @ts-expect-error s3rver ships no types
import S3rver from 's3rver';
import { startS3 } from '../../test/support/aws-local.js';
import { startFiles } from './s3-files.js';
import { startSink } from './s3-sink.js';

const [kind, ...buckets] = process.argv.slice(2);
let server: { endpoint: string; stop: () => Promise<void> };
if (kind === 'sink') server = await startSink();
else if (kind === 'files') server = await startFiles(process.env.BENCH_FILES_DIR!);
else if (kind === 's3rver-tls') {
  const directory = mkdtempSync(join(tmpdir(), 's3rver-'));
  const s = new S3rver({ port: 0, address: '127.0.0.1', directory, silent: true, configureBuckets: buckets.map((name) => ({ name })),
    cert: readFileSync(process.env.BENCH_TLS_CERT!), key: readFileSync(process.env.BENCH_TLS_KEY!) });
  const address = (await s.run()) as AddressInfo;
  server = { endpoint: `https://127.0.0.1:${address.port}`, stop: async () => { await s.close(); rmSync(directory, { recursive: true, force: true }); } };
} else server = await startS3(buckets);
process.stdout.write(`listening ${server.endpoint}\n`);
const stop = async () => { await server.stop(); process.exit(0); };
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
