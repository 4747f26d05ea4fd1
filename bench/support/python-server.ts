/**
 * Starts one of the bench's Python endpoints (s3-files.py, s3-sink.py) and resolves once it
 * prints "listening <endpoint>"; stop() ends it with SIGTERM.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface PythonServer { endpoint: string; stop: () => Promise<void> }

export function startPythonServer(script: string, args: string[] = []): Promise<PythonServer> {
  const path = fileURLToPath(new URL(`./${script}`, import.meta.url));
  const child = spawn('python3', [path, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.on('exit', (code) => reject(new Error(`${script} exited (${code}) before it listened`)));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = out.match(/^listening (\S+)\n/m);
      if (!m) return;
      child.removeAllListeners('exit');
      resolve({ endpoint: m[1]!, stop: () => new Promise((r) => { if (child.exitCode !== null) return r(); child.once('exit', () => r()); child.kill('SIGTERM'); }) });
    });
  });
}
