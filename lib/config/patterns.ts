/**
 * Character rules shared by the config schema (zod), the SSM document parameters
 * (`allowedPattern`) and the Lambdas. They are deliberately narrow: every value that
 * reaches a host must be harmless even if a script forgot to quote it.
 *
 * This module depends on nothing, so both CDK code and Lambda code can import it.
 */

/** Fleet and stack names: used in construct IDs, S3 prefixes and document allowedValues. */
export const NAME = /^[a-z][a-z0-9-]{0,38}[a-z0-9]$|^[a-z]$/;
export const NAME_HINT = 'lower-case letters, digits and "-", starting with a letter, at most 40 characters (e.g. "web-api")';

/** Docker container names, as Docker itself allows them. */
export const CONTAINER = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;
export const CONTAINER_HINT = 'a Docker container name: letters, digits, "_", "." and "-", not starting with a symbol';

/** EC2 instance IDs and SSM managed (on-prem) node IDs. */
export const INSTANCE_ID = /^(i-[0-9a-f]{8}|i-[0-9a-f]{17}|mi-[0-9a-f]{17})$/;
export const INSTANCE_ID_HINT = 'an EC2 instance ID ("i-0123456789abcdef0") or a managed node ID ("mi-0123456789abcdef0")';

/** Tag keys and values as SSM targets accept them. */
export const TAG = /^[A-Za-z0-9 _.:/=+@-]{1,128}$/;
export const TAG_HINT = 'letters, digits, spaces and _ . : / = + @ -, 1 to 128 characters';

/** A pgrep -f pattern: no shell metacharacters, no leading "-" (it would read as an option). */
export const PROCESS_PATTERN = /^[A-Za-z0-9_.\/:@=+][A-Za-z0-9_.\/:@=+ -]{0,127}$/;
export const PROCESS_PATTERN_HINT = 'letters, digits, spaces and _ . / : @ = + -, not starting with "-" or a space';

/** Host names and IP addresses for TCP probes. */
export const HOSTNAME = /^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$|^[0-9a-fA-F:.]{2,45}$/;
export const HOSTNAME_HINT = 'a host name ("db.internal"), an IPv4 address or an IPv6 address without brackets';

/** URL characters without whitespace, quotes, $ ( ) ; ! * or backslashes; percent-encode anything else. */
export const URL_CHARS = /^https?:\/\/[A-Za-z0-9._~:/?#[\]@&+,=%-]+$/;
export const URL_HINT = 'an http:// or https:// URL of letters, digits and . _ ~ : / ? # [ ] @ & + , = % - (percent-encode anything else; e.g. "http://localhost:3001/api/health")';

/** Absolute host paths: no "..", no shell metacharacters. */
export const ABS_PATH = /^(?!.*\/\.\.?(\/|$))\/([A-Za-z0-9._@+-]+\/?)*$/;
export const ABS_PATH_HINT = 'an absolute path of letters, digits and . _ @ + -, without "." or ".." parts (e.g. "/opt/sigul")';

/**
 * Extended regular expressions for log scanning. They reach grep as one argument and are
 * never evaluated by a shell; still, the characters that only matter to a shell are refused.
 */
export const LOG_PATTERN = /^[^\x00-\x1f\x7f`$;'&<>!]{1,200}$/;
export const LOG_PATTERN_HINT = 'a grep -E pattern of at most 200 printable characters without ` $ ; \' & < > ! (e.g. "error|fatal|panic")';

/** The run ID the dispatcher passes to documents (also its allowedPattern). */
export const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9-]{0,35}$/;

/** IANA time zone check without a data table of our own. */
export function isIanaTimeZone(tz: string): boolean {
  if (!/^[A-Za-z_]+(\/[A-Za-z0-9_+-]+)*$/.test(tz)) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** The regex source without JavaScript-only syntax, for SSM allowedPattern. */
export function ssmPattern(re: RegExp): string {
  return re.source;
}

/** Console "silence" runbook parameters (also enforced by the console Lambda). */
export const SILENCE_HOST = /^(\*|i-[0-9a-f]{8}|i-[0-9a-f]{17}|mi-[0-9a-f]{17})$/;
export const SILENCE_CHECK = /^(\*|[a-z]+\.([a-z]+|\*))$/;
export const SILENCE_HOURS = /^([1-9]|[1-9][0-9]|1[0-5][0-9]|16[0-8])$/;
export const SILENCE_REASON = /^[A-Za-z0-9 .,:_()-]{3,200}$/;

/** One argv element of a backup hook command, run with docker exec (never through a shell). */
export const HOOK_ARG = /^[A-Za-z0-9_.\/:=@+%,-]{1,200}$/;
export const HOOK_ARG_HINT = 'one argument of letters, digits and _ . / : = @ + % , - (no spaces: split into several arguments)';

/** tar --exclude patterns: globs without shell metacharacters other than * ? [ ]. */
export const EXCLUDE = /^[A-Za-z0-9_.\/*?[\]-]{1,200}$/;
export const EXCLUDE_HINT = 'a glob of letters, digits and _ . / * ? [ ] - (e.g. "*.log" or "cache/*")';
