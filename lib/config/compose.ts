/**
 * The compose project of a stack, named as compose names it. Depends on nothing, so the CDK app,
 * the Lambdas and the tests share it; the host scripts have the same rule in lib/compose.sh.
 */
import type { Stack } from './schema.js';

/**
 * The project name compose (v2) derives from a directory: its base name, lower-cased, without
 * characters other than a-z 0-9 _ -, and without leading _ or -.
 */
export function composeProjectName(dir: string): string {
  const base = dir.replace(/\/+$/, '').split('/').pop() ?? '';
  return base.toLowerCase().replace(/[^a-z0-9_-]/g, '').replace(/^[-_]+/, '');
}

/** The stack's compose project: given, or derived from composeDir; undefined when neither. */
export function composeProjectOf(stack: Pick<Stack, 'composeProject' | 'composeDir'>): string | undefined {
  if (stack.composeProject) return stack.composeProject;
  const derived = stack.composeDir ? composeProjectName(stack.composeDir) : '';
  return derived || undefined;
}
