import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeSpec, type SpecLines, type SpecSection } from '../../lib/runbooks/spec.js';

/**
 * Writes a stack spec (lib/runbooks/spec.ts, the file hosts fetch from S3) for a host script
 * run directly, and returns its path for SHIPSHAPE_SPEC_FILE.
 */
export function specFile(sections: Partial<Record<SpecSection, SpecLines>>, stack = 'web'): string {
  const path = join(mkdtempSync(join(tmpdir(), 'shipshape-spec-')), `${stack}.spec`);
  writeFileSync(path, encodeSpec(stack, sections));
  return path;
}
