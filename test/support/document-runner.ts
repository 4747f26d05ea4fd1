/**
 * A local stand-in for the SSM agent: takes a Command document as the stack synthesized
 * it, validates parameters the way SSM does (allowedValues, allowedPattern, defaults),
 * substitutes {{ Param }} references and runs each aws:runShellScript step with `sh`,
 * as the agent does. Output is kept whole and also cut at SSM's inline limit.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

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
  mainSteps: { action: string; name: string; inputs: { runCommand: string[]; timeoutSeconds?: string; sourceType?: string; sourceInfo?: string; destinationPath?: string } }[];
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
  /**
   * What aws:downloadContent finds in S3, by key (e.g. fleetSpecs(fleet) from lib/runbooks/spec.ts);
   * a key that is missing fails the download step, as S3 would.
   */
  specs?: ReadonlyMap<string, string>;
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

/**
 * aws:downloadContent from S3, as the agent does it (amazon-ssm-agent plugins/downloadcontent):
 * a relative destinationPath lands under <orchestration>/downloads/; a destination ending in "/"
 * is a directory that receives the object under its own file name.
 */
function downloadContent(step: CommandDocument['mainSteps'][number], params: Record<string, string>, dir: string, opts: RunOptions): StepResult {
  const info = JSON.parse(substitute(step.inputs.sourceInfo ?? '{}', params)) as { path?: string };
  const url = new URL(info.path ?? '');
  const key = decodeURIComponent(url.pathname.replace(/^\//, ''));
  const text = opts.specs?.get(key);
  if (step.inputs.sourceType !== 'S3' || text === undefined) {
    return { status: 'Failed', responseCode: 1, stdout: '', stdoutInline: '', stderr: `failed to download ${url.href}: NoSuchKey` };
  }
  const dest = step.inputs.destinationPath ?? '';
  const target = dest.endsWith('/') || dest === '' ? join(dir, 'downloads', dest, key.split('/').at(-1)!) : join(dir, 'downloads', dest);
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, text);
  return { status: 'Success', responseCode: 0, stdout: `Content downloaded to ${target}`, stdoutInline: '', stderr: '' };
}

/**
 * Runs every step. Like the agent (schema 2.2 without onFailure: exit), a failed download does
 * not stop the script step, which then finds no spec and says so in its result; the command's
 * status is the worst of its steps.
 */
export async function runDocument(doc: CommandDocument, given: Record<string, string[] | string>, opts: RunOptions = {}): Promise<StepResult> {
  const params = resolveParameters(doc, given);
  const dir = mkdtempSync(join(tmpdir(), 'ssm-doc-'));
  try {
    let last: StepResult | undefined;
    let failedDownload: StepResult | undefined;
    for (const step of doc.mainSteps) {
      if (step.action === 'aws:downloadContent') {
        const r = downloadContent(step, params, dir, opts);
        if (r.status !== 'Success') failedDownload = r;
        continue;
      }
      if (step.action !== 'aws:runShellScript') throw new Error(`the local runner does not emulate ${step.action}`);
      // The agent runs each step in its own folder of the orchestration directory.
      const stepDir = join(dir, step.name);
      mkdirSync(stepDir, { recursive: true });
      const script = join(stepDir, '_script.sh');
      writeFileSync(script, step.inputs.runCommand.map((l) => substitute(l, params)).join('\n') + '\n', { mode: 0o700 });
      const timeoutSeconds = Number(substitute(step.inputs.timeoutSeconds ?? '3600', params));
      last = await runScript(script, { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, ...opts.env }, opts.timeoutMs ?? timeoutSeconds * 1000);
      if (last.status !== 'Success') return last;
    }
    if (failedDownload && last) return { ...last, status: 'Failed', responseCode: 1, stderr: `${failedDownload.stderr}\n${last.stderr}` };
    return last!;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Pseudo parameters as a stack in eu-central-1 sees them. */
const PSEUDO: Record<string, string> = { 'AWS::Region': 'eu-central-1', 'AWS::Partition': 'aws', 'AWS::AccountId': '111122223333', 'AWS::URLSuffix': 'amazonaws.com' };

/** Resolves the intrinsics CloudFormation would: Ref to the given physical names, Fn::Join. */
export function resolveIntrinsics(value: unknown, refs: Record<string, string>): unknown {
  if (Array.isArray(value)) return value.map((v) => resolveIntrinsics(v, refs));
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if ('Ref' in o) {
      const id = o.Ref as string;
      if (id in refs) return refs[id];
      if (id in PSEUDO) return PSEUDO[id];
      // A resource the test did not name: a plausible physical name (tests that use it pass refs).
      return `${id.toLowerCase()}-physical`;
    }
    if ('Fn::GetAtt' in o) {
      const [id, attr] = o['Fn::GetAtt'] as [string, string];
      if (`${id}.${attr}` in refs) return refs[`${id}.${attr}`];
      // The spec bucket's regional domain: the runner serves specs by key, whatever the bucket.
      if (attr === 'RegionalDomainName') return `${refs[id] ?? id.toLowerCase()}.s3.${PSEUDO['AWS::Region']}.amazonaws.com`;
      throw new Error(`the document refers to ${id}.${attr}; give it to the runner`);
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
