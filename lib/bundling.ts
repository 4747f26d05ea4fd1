import { ESBUILD_TARGET } from './runtime.js';

/**
 * The esbuild settings every Lambda is bundled with. The construct passes them to
 * NodejsFunction and bench/ passes them to esbuild directly, so both measure one thing.
 */
export const BUNDLING = {
  format: 'esm',
  target: ESBUILD_TARGET,
  minify: true,
  sourcemap: true,
  mainFields: ['module', 'main'],
  // ESM bundles still meet CommonJS code inside the SDK; give it a require().
  banner: "import { createRequire as __shipshapeRequire } from 'node:module';const require = __shipshapeRequire(import.meta.url);",
} as const;
