/**
 * The spec's "compose" section: the stack's compose project and directory, read by every host
 * script through lib/host-scripts/lib/compose.sh (compose_spec_project) to resolve compose
 * service, container and volume names through the labels compose sets.
 *
 *   project<TAB><project or -><TAB><composeDir or ->
 */
import { composeProjectOf } from '../config/compose.js';
import type { Stack } from '../config/schema.js';

export function composeSpecLines(stack: Stack): string[][] {
  return [['project', composeProjectOf(stack) ?? '-', stack.composeDir ?? '-']];
}
