/**
 * The bench's S3 endpoint that accepts uploads and discards the bytes (s3-sink.py): PutObject,
 * the multipart calls and ListObjectsV2 with the sizes received, so backup.sh's size check
 * passes. It lets the bench time the pipeline without a local S3 server writing every byte to
 * disk on the same cores. A Python process reading bodies into one reused buffer: the Node sink
 * it replaces spent ~1.1 s of CPU per 614 MB backup on the 2 cores the pipeline is timed on.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface Sink { endpoint: string; bytesReceived: () => Promise<number>; stop: () => Promise<void> }

export function startSink(): Promise<Sink> {
  const script = fileURLToPath(new URL('./s3-sink.py', import.meta.url));
  const child = spawn('python3', [script], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.on('exit', (code) => reject(new Error(`s3-sink.py exited (${code}) before it listened`)));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = out.match(/^listening (\S+)\n/m);
      if (!m) return;
      child.removeAllListeners('exit');
      const endpoint = m[1]!;
      resolve({
        endpoint,
        bytesReceived: async () => Number(await (await fetch(`${endpoint}/_sink/received`)).text()),
        stop: () => new Promise((r) => { if (child.exitCode !== null) return r(); child.once('exit', () => r()); child.kill('SIGTERM'); }),
      });
    });
  });
}
