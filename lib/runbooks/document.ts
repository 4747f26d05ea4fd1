/**
 * One generic SSM Command document (schema 2.2) per runbook, built from its declaration and
 * its host script in lib/host-scripts/. Two steps: the agent fetches the stack's spec
 * (aws:downloadContent, from specs/v1/<stack>.spec in the output bucket: data, never shell),
 * then runs the script. The script and the libraries it sources travel in the document itself,
 * gzip-compressed and base64-encoded with their SHA-256: SSM allows 64 KB per document and the
 * backup and restore scripts are larger than that as text (issue 15: the S3 client and
 * differential backups). The host unpacks the script beside SSM's own copy of the step, checks
 * the SHA-256 and runs it. `unpackedScript` gives the text back (tests, `npm run synth` readers).
 * The content does not depend on the stacks, so it stays one size however large the fleet grows.
 * Build-time only: Lambdas import lib/runbooks/names.ts instead.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { NAME, RUN_ID } from '../config/patterns.js';
import type { Fleet, Schedule, Stack } from '../config/schema.js';
import { RUN_ID_PARAM, STACK_PARAM, TIMEOUT_PARAM, type RunbookName } from './names.js';
import { SPEC_DOWNLOAD_DIR, SPEC_PREFIX } from './spec.js';

export interface DocumentParameter {
  readonly type: 'String';
  readonly description: string;
  readonly default?: string;
  readonly allowedValues?: string[];
  readonly allowedPattern?: string;
}

/** What a runbook that runs a console entry offers in Systems Manager > Automation. */
export interface ConsoleEntry {
  /** Automation runbook name, e.g. "backup-now". */
  readonly name: string;
  readonly description: (fleet: string) => string;
  /** dispatch: the dispatcher sends it to every host of the stack; host: one chosen host runs it. */
  readonly kind: 'dispatch' | 'host';
}

/** A runbook, declared once: its script, document parameters, where it applies, its schedules and console entry. */
export interface RunbookDeclaration {
  readonly name: RunbookName;
  /** File name under lib/host-scripts/. */
  readonly script: string;
  /** Step name (letters and digits). */
  readonly stepName: string;
  /** What an operator sees in the console. */
  readonly description: (fleet: string) => string;
  /** Default execution timeout in seconds. */
  readonly executionTimeoutSeconds: number;
  /** More parameters, each exported as SHIPSHAPE_<UPPER_SNAKE> for the script. */
  readonly parameters?: Readonly<Record<string, DocumentParameter>>;
  /** The stacks this runbook runs on; the document exists when at least one stack has it. */
  readonly appliesTo: (stack: Stack) => boolean;
  /** Scheduled runs of one stack. @default none */
  readonly schedules?: (fleet: Fleet, stack: Stack) => readonly Schedule[];
  /** Reads or writes the backup bucket (SHIPSHAPE_BUCKET, SHIPSHAPE_PREFIX). */
  readonly usesBackupBucket?: boolean;
  readonly console?: ConsoleEntry;
}

/** Where documents find what they need at run time; values may be CloudFormation tokens. */
export interface DocumentEnvironment {
  /** Regional domain name of the bucket holding specs/ (bucketRegionalDomainName). */
  readonly specBucketDomain: string;
  /** The backup bucket, for runbooks that use it. */
  readonly backupBucket?: string;
  readonly backupPrefix?: string;
  /** The stack's region: hybrid nodes and AWS CLI v1 have no default. */
  readonly region: string;
}

const envName = (param: string) => `SHIPSHAPE_${param.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase()}`;

/** SSM's own parameter syntax; nothing else in a document may look like it. */
export const SSM_PARAM_REF = /\{\{\s*([A-Za-z0-9_:.-]+)\s*\}\}/g;
/** Seconds: 10 to 172,800 (48 h, aws:runShellScript's maximum). */
export const EXECUTION_TIMEOUT_PATTERN = '^([1-9][0-9]{1,4}|1[0-6][0-9]{4}|17[01][0-9]{3}|172[0-7][0-9]{2}|172800)$';
export const MAX_EXECUTION_TIMEOUT_SECONDS = 172_800;

export function hostScriptPath(script: string): URL {
  return new URL(`../host-scripts/${script}`, import.meta.url);
}

const INLINE = /^\.\s.*#\s*shipshape:inline\s+(\S+)\s*$/;

/**
 * The script as it runs on hosts: lines that source a shared file (marked
 * `# shipshape:inline <file>`) are replaced by that file, so a document is self-contained.
 */
export function readHostScript(script: string, seen: readonly string[] = []): string {
  if (seen.includes(script)) throw new Error(`host script ${script} inlines itself (${[...seen, script].join(' -> ')})`);
  const lines = readFileSync(hostScriptPath(script), 'utf8').split('\n');
  // Inlined files lose their comment-only and blank lines (the repository keeps them): a document
  // that inlines the same library twice (restore runs backup.sh for its safety copy) stays small.
  return (seen.length ? lines.filter((l) => l.trim() !== '' && !/^\s*#/.test(l)) : lines)
    .map((line) => {
      const m = INLINE.exec(line);
      return m ? readHostScript(m[1]!, [...seen, script]).replace(/\n$/, '') : line;
    })
    .join('\n');
}

const SAFE_ENV_VALUE = /^[A-Za-z0-9._\/-]*$/;
const PACK_END = 'SHIPSHAPE_PACKED_SCRIPT_END';

/**
 * Lines that write the script, packed, beside the step's own file, check its SHA-256 and run it
 * with bash. A failed unpack says so on stderr and exits 1 (the result function reports a run
 * without a result).
 */
export function packScript(script: string, name: string): string[] {
  const sha = createHash('sha256').update(script).digest('hex');
  const packed = gzipSync(script, { level: 9 }).toString('base64').match(/.{1,76}/g) ?? [];
  return [
    `shipshape_main="$(cd "$(dirname "$0")" && pwd)/shipshape-${name}"`,
    `base64 -d <<'${PACK_END}' | gzip -dc > "$shipshape_main"`,
    ...packed,
    PACK_END,
    `if [ "$(sha256sum < "$shipshape_main" 2>/dev/null | cut -c1-64)" != "${sha}" ]; then`,
    `  echo "shipshape: the ${name} script could not be unpacked into $shipshape_main (base64, gzip and sha256sum are needed; is the disk full?)" >&2`,
    '  exit 1',
    'fi',
    'exec bash "$shipshape_main"',
  ];
}

/** The script text a document's run step carries (the inverse of packScript), for tests and readers. */
export function unpackedScript(runCommand: readonly string[]): string {
  const start = runCommand.findIndex((l) => l.startsWith('base64 -d <<'));
  const end = runCommand.indexOf(PACK_END);
  if (start < 0 || end < start) throw new Error('no packed script in this run step');
  return gunzipSync(Buffer.from(runCommand.slice(start + 1, end).join(''), 'base64')).toString('utf8');
}

export function commandDocumentContent(decl: RunbookDeclaration, fleet: string, env: DocumentEnvironment): Record<string, unknown> {
  const script = readHostScript(decl.script);
  const stray = [...script.matchAll(SSM_PARAM_REF)];
  if (stray.length > 0) throw new Error(`${decl.script} contains ${stray[0]![0]}, which SSM would read as a parameter`);
  if (decl.executionTimeoutSeconds > MAX_EXECUTION_TIMEOUT_SECONDS) throw new Error(`${decl.name}: executionTimeoutSeconds ${decl.executionTimeoutSeconds} is over ${MAX_EXECUTION_TIMEOUT_SECONDS}`);
  const exports: Record<string, string> = {
    SHIPSHAPE_REGION: env.region,
    ...(decl.usesBackupBucket ? { SHIPSHAPE_BUCKET: env.backupBucket ?? '', SHIPSHAPE_PREFIX: env.backupPrefix ?? '' } : {}),
  };
  const preamble = [
    '# Generated by shipshape. SSM runs this file with sh; the script needs bash.',
    'if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi',
    `export SHIPSHAPE_STACK='{{ ${STACK_PARAM} }}'`,
    `export SHIPSHAPE_RUN_ID='{{ ${RUN_ID_PARAM} }}'`,
    // Scripts budget their own work (the health check's probes) within what SSM will allow.
    `export SHIPSHAPE_EXECUTION_TIMEOUT='{{ ${TIMEOUT_PARAM} }}'`,
    // aws:downloadContent put the spec in <orchestration>/downloads/, beside this step's folder.
    `SHIPSHAPE_SPEC_FILE="$(cd "$(dirname "$0")" && pwd)/../downloads/${SPEC_DOWNLOAD_DIR}$SHIPSHAPE_STACK.spec"`,
    'export SHIPSHAPE_SPEC_FILE',
    ...Object.entries(decl.parameters ?? {}).map(([name, p]) => {
      if (!p.allowedValues && !(p.allowedPattern?.startsWith('^') && p.allowedPattern.endsWith('$') && !/['\\]/.test(p.allowedPattern))) {
        throw new Error(`document parameter ${name} needs allowedValues or an anchored allowedPattern without quotes`);
      }
      return `export ${envName(name)}='{{ ${name} }}'`;
    }),
    ...Object.entries(exports).map(([k, v]) => {
      if (!v.startsWith('${Token[') && !SAFE_ENV_VALUE.test(v)) throw new Error(`document env ${k} has unsafe characters: ${JSON.stringify(v)}`);
      return `export ${k}='${v}'`;
    }),
  ];
  return {
    schemaVersion: '2.2',
    description: decl.description(fleet),
    parameters: {
      [STACK_PARAM]: {
        type: 'String',
        description: 'Which stack of the fleet to run against (its hosts are chosen by the dispatcher or by you).',
        allowedPattern: `^(${NAME.source.replace(/^\^|\$$/g, '').replace('$|^', '|')})$`,
      },
      [RUN_ID_PARAM]: {
        type: 'String',
        description: 'Correlates host results with a run. Leave "manual" when starting by hand.',
        default: 'manual',
        allowedPattern: RUN_ID.source,
      },
      [TIMEOUT_PARAM]: {
        type: 'String',
        description: 'Seconds the script may run on each host before it is stopped (10 to 172800).',
        default: String(decl.executionTimeoutSeconds),
        allowedPattern: EXECUTION_TIMEOUT_PATTERN,
      },
      ...decl.parameters,
    } satisfies Record<string, DocumentParameter>,
    mainSteps: [
      {
        action: 'aws:downloadContent',
        name: 'fetchSpec',
        precondition: { StringEquals: ['platformType', 'Linux'] },
        inputs: {
          sourceType: 'S3',
          sourceInfo: JSON.stringify({ path: `https://${env.specBucketDomain}/${SPEC_PREFIX}{{ ${STACK_PARAM} }}.spec` }),
          destinationPath: SPEC_DOWNLOAD_DIR,
        },
      },
      {
        action: 'aws:runShellScript',
        name: decl.stepName,
        precondition: { StringEquals: ['platformType', 'Linux'] },
        inputs: {
          timeoutSeconds: `{{ ${TIMEOUT_PARAM} }}`,
          runCommand: [...preamble, ...packScript(script, decl.script)],
        },
      },
    ],
  };
}
