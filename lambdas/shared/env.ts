import * as z from 'zod';
import { parseOrThrow } from './errors.js';

/** Environment every function gets from lib/constructs/function.ts. */
const jsonMap = (what: string) => z.string().transform((s, ctx) => {
  try {
    return z.record(z.string(), z.string()).parse(JSON.parse(s));
  } catch {
    ctx.addIssue({ code: 'custom', message: `must be a JSON object of ${what}` });
    return z.NEVER;
  }
});

export const BaseEnv = z.object({
  SHIPSHAPE_FLEET_NAME: z.string().min(1),
  /** Runbook name to SSM document name, as JSON. */
  SHIPSHAPE_DOCUMENTS: jsonMap('runbook to document name'),
  /** Console runbook name to Automation document name. */
  SHIPSHAPE_RUNBOOKS: jsonMap('console runbook to document name').optional(),
  AWS_REGION: z.string().default('us-east-1'),
});

export function parseEnv<T extends z.ZodType>(schema: T, env: NodeJS.ProcessEnv = process.env): z.infer<T> {
  return parseOrThrow(schema, env, 'environment') as z.infer<T>;
}
