/**
 * The bench's S3 endpoints in their own processes, so a server busy with a multi-gigabyte
 * upload does not stall the bench's memory sampler (one event loop) and its CPU shows apart:
 * `s3rver` (test/support/aws-local.ts, writes every byte to disk), `s3rver-tls` (the same over
 * HTTPS), `sink` (s3-sink.ts, a Python process that discards them) or `files` (s3-files.ts, serves the objects under
 * BENCH_FILES_DIR read-only, with sendfile).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface ServerProcess { endpoint: string; pid: number; stop: () => Promise<void> }

export function startServerProcess(kind: 's3rver' | 's3rver-tls' | 'sink' | 'files', buckets: string[], env: NodeJS.ProcessEnv = process.env): Promise<ServerProcess> {
  const main = fileURLToPath(new URL('./server-main.ts', import.meta.url));
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', main, kind, ...buckets], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.on('exit', (code) => reject(new Error(`${kind} exited (${code}) before it listened`)));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = out.match(/^listening (\S+)\n/m);
      if (!m) return;
      child.removeAllListeners('exit');
      resolve({
        endpoint: m[1]!, pid: child.pid!,
        stop: () => new Promise((r) => { child.once('exit', () => r()); child.kill('SIGTERM'); }),
      });
    });
  });
}
