/**
 * Fleet scale: the design before issue 10 (every stack's spec inlined into every document, one
 * schedule and alarm per stack and runbook, the config passed to esbuild as one argument) and
 * this one, on the same generated fleets (every feature on, longest names), interleaved in one
 * run. For each: `cdk synth` through the CLI with bundling (wall time, or how it fails) and, from
 * an in-process synth without bundling, resources and bytes of the largest template and the
 * largest document.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { generatedFleetInput } from '../test/support/generated-fleet.js';

/** The last commit before the fleet-scale change. */
export const BASELINE_COMMIT = 'c34f5e3';

export interface ScaleRow {
  readonly design: 'before' | 'now';
  readonly stacks: number;
  readonly synthSeconds: number[];
  readonly synthError?: string;
  readonly templates?: number;
  readonly maxResources?: number;
  readonly maxTemplateBytes?: number;
  readonly maxDocumentBytes?: number;
  readonly figuresError?: string;
}

const FIGURES = `
import { readFileSync } from 'node:fs';
import { App, NestedStack, Stack } from 'aws-cdk-lib';
import { loadFleetFile } from '../lib/config/load.js';
import { FleetStack } from '../lib/stacks/fleet-stack.js';
const { fleet: _d, ...flags } = JSON.parse(readFileSync('cdk.json', 'utf8')).context;
const app = new App({ context: { ...flags, 'aws:cdk:bundling-stacks': [] } });
const stack = new FleetStack(app, 'Scale', { fleet: loadFleetFile(process.argv[2]) });
const assembly = app.synth();
const stacks = [stack, ...stack.node.findAll().filter((c) => c instanceof NestedStack)];
let maxResources = 0, maxTemplateBytes = 0, maxDocumentBytes = 0;
for (const s of stacks) {
  const t = JSON.parse(readFileSync(assembly.directory + '/' + s.templateFile, 'utf8'));
  maxResources = Math.max(maxResources, Object.keys(t.Resources).length);
  maxTemplateBytes = Math.max(maxTemplateBytes, JSON.stringify(t).length);
  for (const r of Object.values(t.Resources)) if (r.Type === 'AWS::SSM::Document') maxDocumentBytes = Math.max(maxDocumentBytes, JSON.stringify(r.Properties.Content).length);
}
process.stdout.write(JSON.stringify({ templates: stacks.length, maxResources, maxTemplateBytes, maxDocumentBytes }));
`;

function prepareBaseline(root: string): string {
  const dir = resolve(root, 'before');
  if (!existsSync(join(dir, 'package.json'))) {
    spawnSync('git', ['worktree', 'remove', '--force', dir], { stdio: 'ignore' });
    const r = spawnSync('git', ['worktree', 'add', '--detach', dir, BASELINE_COMMIT], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`cannot check out ${BASELINE_COMMIT}: ${r.stderr}`);
  }
  if (!existsSync(join(dir, 'node_modules'))) symlinkSync(resolve('node_modules'), join(dir, 'node_modules'));
  return dir;
}

/** The one line that says why a synth failed. */
function reason(text: string): string {
  const line = /E2BIG|Argument list too long/.exec(text)?.[0]
    ?? /[^\n]*(Number of resources|greater than allowed maximum|too large|exceeds?)[^\n]*/i.exec(text)?.[0]
    ?? /^\s*\w*Error: [^\n]+/m.exec(text)?.[0]
    ?? text.trim().split('\n').slice(-1)[0] ?? 'failed';
  return line.replace(/\|/g, '/').replace(/\s+/g, ' ').trim().slice(0, 160);
}

function synthCli(dir: string, config: string, out: string): { seconds: number; error?: string } {
  rmSync(out, { recursive: true, force: true });
  const t0 = performance.now();
  const r = spawnSync('npx', ['--no-install', 'cdk', 'synth', '--no-notices', '-q', '-c', `fleet=${config}`, '-o', out], {
    cwd: dir, encoding: 'utf8', env: { ...process.env, CDK_DISABLE_VERSION_CHECK: '1', CDK_DISABLE_CLI_TELEMETRY: 'true' }, timeout: 900_000,
  });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status === 0) return { seconds };
  const text = `${r.stderr}\n${r.stdout}`;
  return { seconds, error: reason(text) };
}

function figures(dir: string, config: string): Omit<ScaleRow, 'design' | 'stacks' | 'synthSeconds'> {
  mkdirSync(join(dir, '.cache'), { recursive: true });
  const script = join(dir, '.cache', 'bench-figures.ts');
  writeFileSync(script, FIGURES);
  const r = spawnSync('npx', ['--no-install', 'tsx', script, config], { cwd: dir, encoding: 'utf8', timeout: 900_000, maxBuffer: 1 << 26 });
  if (r.status !== 0) return { figuresError: reason(`${r.stderr}\n${r.stdout}`) };
  return JSON.parse(r.stdout) as Omit<ScaleRow, 'design' | 'stacks' | 'synthSeconds'>;
}

export function benchScale(sizes = [1, 50, 300], pairs = 2): ScaleRow[] {
  const root = resolve('.cache/bench-scale');
  mkdirSync(root, { recursive: true });
  const designs = { now: resolve('.'), before: prepareBaseline(root) } as const;
  const rows = new Map<string, ScaleRow & { synthSeconds: number[] }>();
  for (const n of sizes) {
    const config = join(root, `fleet-${n}.json`);
    writeFileSync(config, JSON.stringify(generatedFleetInput(n)));
    for (const design of ['now', 'before'] as const) rows.set(`${design}/${n}`, { design, stacks: n, synthSeconds: [], ...figures(designs[design], config) });
  }
  // Interleaved: now, before, now, before ... for each size.
  for (let p = 0; p < pairs; p++) {
    for (const n of sizes) {
      for (const design of ['now', 'before'] as const) {
        const row = rows.get(`${design}/${n}`)!;
        if (row.synthError) continue;
        const r = synthCli(designs[design], join(root, `fleet-${n}.json`), join(root, `out-${design}-${n}`));
        row.synthSeconds.push(r.seconds);
        if (r.error) rows.set(`${design}/${n}`, { ...row, synthError: r.error });
      }
    }
  }
  return [...rows.values()];
}
