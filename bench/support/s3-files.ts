/**
 * The bench's read-only S3 endpoint over a directory (<root>/<bucket>/<key>): GetObject (whole
 * or one byte range), HeadObject and ListObjectsV2, path-style (s3-files.py). It sends objects
 * with sendfile(2), so restore.sh can be timed without a local S3 server competing for the same
 * cores: s3rver reads its files in small chunks, and a Node server copying 4 MiB buffers still
 * took ~0.3 s of CPU per 237 MB, against ~0.03 s with sendfile. Signatures are not checked.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface FilesEndpoint { endpoint: string; stop: () => Promise<void> }

export function startFiles(root: string): Promise<FilesEndpoint> {
  const script = fileURLToPath(new URL('./s3-files.py', import.meta.url));
  const child = spawn('python3', [script, root], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.on('exit', (code) => reject(new Error(`s3-files.py exited (${code}) before it listened`)));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = out.match(/^listening (\S+)\n/m);
      if (!m) return;
      child.removeAllListeners('exit');
      resolve({ endpoint: m[1]!, stop: () => new Promise((r) => { if (child.exitCode !== null) return r(); child.once('exit', () => r()); child.kill('SIGTERM'); }) });
    });
  });
}
