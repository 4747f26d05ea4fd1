/**
 * The boundaries of ARCHITECTURE.md, checked on the real import graph: a Lambda bundle pulls no
 * CDK and no build-time code (document builders that read host scripts from disk), and
 * constructs import no Lambda runtime code.
 */
import { build, type Metafile } from 'esbuild';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const FUNCTIONS = readdirSync('lambdas', { withFileTypes: true }).filter((d) => d.isDirectory() && d.name !== 'shared').map((d) => d.name);
const BUILD_TIME = [/^lib\/runbooks\/document\.ts$/, /^lib\/runbooks\/registry-build/, /^lib\/constructs\//, /^lib\/stacks\//, /node_modules\/aws-cdk-lib\//, /node_modules\/constructs\//, /node_modules\/cdk-nag\//];

/**
 * Every module a function's bundle reads: one esbuild build with every function as an entry
 * point (the SDK and the shared modules are parsed once, not once per function), each function's
 * modules followed from its entry through the import graph of the build's metafile.
 */
let graph: Promise<Metafile> | undefined;
async function bundledInputs(fn: string): Promise<string[]> {
  graph ??= build({ entryPoints: FUNCTIONS.map((f) => join('lambdas', f, 'handler.ts')), bundle: true, write: false, metafile: true, outdir: 'bundles', platform: 'node', format: 'esm', logLevel: 'silent' }).then((r) => r.metafile);
  const { inputs } = await graph;
  const seen = new Set<string>();
  const queue = [join('lambdas', fn, 'handler.ts')];
  for (let file = queue.pop(); file !== undefined; file = queue.pop()) {
    const input = inputs[file];
    if (seen.has(file) || !input) continue;
    seen.add(file);
    for (const i of input.imports) if (!i.external) queue.push(i.path);
  }
  return [...seen];
}

describe('module boundaries', () => {
  it('finds the functions to check', () => {
    expect(FUNCTIONS).toEqual(expect.arrayContaining(['dispatcher', 'result', 'watchdog', 'rotation', 'console', 'retention']));
  });

  it.each(FUNCTIONS)('bundles lambdas/%s without CDK or build-time modules', async (fn) => {
    // Act
    const inputs = await bundledInputs(fn);
    // Assess
    expect(inputs.length).toBeGreaterThan(10);
    const offending = inputs.filter((i) => BUILD_TIME.some((re) => re.test(i)));
    expect(offending).toEqual([]);
  });

  it('keeps constructs and stacks free of Lambda runtime code', () => {
    const files = ['lib/constructs', 'lib/stacks'].flatMap((dir) => readdirSync(dir).map((f) => join(dir, f)));
    for (const f of files) expect(readFileSync(f, 'utf8'), f).not.toMatch(/from '\.\.\/\.\.\/lambdas\//);
  });
});
