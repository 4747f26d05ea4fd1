import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export function hostScript(name: string): string {
  return fileURLToPath(new URL(`../../lib/host-scripts/${name}`, import.meta.url));
}

export interface ScriptRun {
  status: number | null;
  stdout: string;
  stderr: string;
  json: any;
}

/**
 * Runs a host script with bash, as the document preamble does, and parses its one JSON
 * document. Asynchronous, so servers in this process keep answering the script's probes.
 */
export function runHostScript(name: string, env: Record<string, string>, timeoutMs = 30_000): Promise<ScriptRun> {
  return new Promise((resolve) => {
    const child = spawn('bash', [hostScript(name)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (status) => {
      clearTimeout(timer);
      let json: unknown;
      try {
        json = JSON.parse(stdout);
      } catch {
        json = undefined;
      }
      resolve({ status, stdout, stderr, json });
    });
  });
}
