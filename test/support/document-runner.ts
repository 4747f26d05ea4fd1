/**
 * A local stand-in for the SSM agent: takes a Command document as the stack synthesized
 * it, validates parameters the way SSM does (allowedValues, allowedPattern, defaults),
 * substitutes {{ Param }} references and runs each aws:runShellScript step with `sh`,
 * as the agent does. Output is kept whole and also cut at SSM's inline limit.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const SSM_INLINE_LIMIT = 24_000;

export interface DocumentParameterSpec {
  type: string;
  default?: string;
  allowedValues?: string[];
  allowedPattern?: string;
}
export interface CommandDocument {
  schemaVersion: string;
  description: string;
  parameters: Record<string, DocumentParameterSpec>;
  mainSteps: { action: string; name: string; inputs: { runCommand: string[]; timeoutSeconds?: string } }[];
}

export class InvalidParametersError extends Error {
  override name = 'InvalidParameters';
}

/** Resolves parameters as SSM does before anything is sent: unknown, missing or disallowed values fail. */
export function resolveParameters(doc: CommandDocument, given: Record<string, string[] | string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(given)) {
    if (!doc.parameters[name]) throw new InvalidParametersError(`unknown parameter ${name}`);
  }
  for (const [name, spec] of Object.entries(doc.parameters)) {
    const raw = given[name];
    const value = raw === undefined ? spec.default : Array.isArray(raw) ? raw.join(',') : raw;
    if (value === undefined) throw new InvalidParametersError(`parameter ${name} is required`);
    if (spec.allowedValues && !spec.allowedValues.includes(value)) {
      throw new InvalidParametersError(`parameter ${name} value is not one of ${spec.allowedValues.join(', ')}`);
    }
    // SSM evaluates allowedPattern against the whole value.
    if (spec.allowedPattern && !new RegExp(spec.allowedPattern).test(value)) {
      throw new InvalidParametersError(`parameter ${name} does not match ${spec.allowedPattern}`);
    }
    out[name] = value;
  }
  return out;
}

export function substitute(text: string, params: Record<string, string>): string {
  return text.replace(/\{\{\s*([A-Za-z0-9_:.-]+)\s*\}\}/g, (_, name: string) => {
    if (!(name in params)) throw new InvalidParametersError(`document references undefined parameter ${name}`);
    return params[name]!;
  });
}

export interface StepResult {
  status: 'Success' | 'Failed' | 'TimedOut';
  responseCode: number;
  stdout: string;
  stdoutInline: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string>;
  /** Overrides the document's timeoutSeconds (tests keep it short). */
  timeoutMs?: number;
}

function runScript(path: string, env: Record<string, string>, timeoutMs: number): Promise<StepResult> {
  return new Promise((resolve) => {
    const child = spawn('sh', [path], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => {
      timedOut = true;
      try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* already gone */ }
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      const status = timedOut ? 'TimedOut' : code === 0 ? 'Success' : 'Failed';
      resolve({ status, responseCode: timedOut ? -1 : (code ?? -1), stdout, stdoutInline: stdout.slice(0, SSM_INLINE_LIMIT), stderr: stderr.slice(0, 8000) });
    });
  });
}

/** Runs every step; like the agent, a failed step ends the document. */
export async function runDocument(doc: CommandDocument, given: Record<string, string[] | string>, opts: RunOptions = {}): Promise<StepResult> {
  const params = resolveParameters(doc, given);
  const dir = mkdtempSync(join(tmpdir(), 'ssm-doc-'));
  try {
    let last: StepResult | undefined;
    for (const step of doc.mainSteps) {
      if (step.action !== 'aws:runShellScript') throw new Error(`the local runner does not emulate ${step.action}`);
      const script = join(dir, `${step.name}_script.sh`);
      writeFileSync(script, step.inputs.runCommand.map((l) => substitute(l, params)).join('\n') + '\n', { mode: 0o700 });
      const timeoutSeconds = Number(substitute(step.inputs.timeoutSeconds ?? '3600', params));
      last = await runScript(script, { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, ...opts.env }, opts.timeoutMs ?? timeoutSeconds * 1000);
      if (last.status !== 'Success') return last;
    }
    return last!;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Resolves the intrinsics CloudFormation would: Ref to the given physical names, Fn::Join. */
export function resolveIntrinsics(value: unknown, refs: Record<string, string>): unknown {
  if (Array.isArray(value)) return value.map((v) => resolveIntrinsics(v, refs));
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if ('Ref' in o) {
      const id = o.Ref as string;
      if (!(id in refs)) throw new Error(`the document refers to ${id}; give its physical name to the runner`);
      return refs[id];
    }
    if ('Fn::Join' in o) {
      const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
      return parts.map((p) => resolveIntrinsics(p, refs)).join(sep);
    }
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, resolveIntrinsics(v, refs)]));
  }
  return value;
}

/** The Command documents of a synthesized template, keyed by their logical ID. */
export function documentsOf(
  template: { Resources: Record<string, { Type: string; Properties?: { Content?: unknown; DocumentType?: string } }> },
  refs: Record<string, string> = {},
): Record<string, CommandDocument> {
  return Object.fromEntries(
    Object.entries(template.Resources)
      .filter(([, r]) => r.Type === 'AWS::SSM::Document' && r.Properties?.DocumentType === 'Command')
      .map(([id, r]) => [id, resolveIntrinsics(r.Properties!.Content, refs) as CommandDocument]),
  );
}
