/**
 * lib/common.sh's string helpers, which every result and progress line goes through: json_str
 * (JSON string of printable ASCII, tab, newline and carriage return, capped) and stage (one
 * progress line of printable ASCII). Both take a fast path without `tr | head` when the string is
 * already printable; over generated strings they must give exactly what the byte rule says.
 * now_ms reads bash 5's EPOCHREALTIME instead of starting date.
 */
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hostScript } from '../support/run-script.js';

const COMMON = hostScript('lib/common.sh');

/** The rule, byte by byte: bytes outside the allowed set become '?', then the cap, then trailing newlines go (as $(...) drops them). */
function expected(s: string, allowed: (b: number) => boolean, cap: number, stripNewlines: boolean): string {
  const bytes = [...Buffer.from(s, 'utf8')].map((b) => (allowed(b) ? String.fromCharCode(b) : '?')).join('').slice(0, cap);
  return stripNewlines ? bytes.replace(/\n+$/, '') : bytes;
}
const printable = (b: number) => b >= 0x20 && b <= 0x7e;
const printableOrSpace = (b: number) => printable(b) || b === 9 || b === 10 || b === 13;

describe('json_str and stage (lib/common.sh)', () => {
  it('turn any string into valid JSON of printable ASCII and one progress line, on both paths', () => {
    const text = fc.string({ unit: fc.constantFrom('a', 'Z', ' ', '~', '"', '\\', '\t', '\n', '\r', '\x01', '\x7f', 'é', '€', '😀', '$', '`', '*', '[', '!') });
    fc.assert(fc.property(fc.array(text, { minLength: 1, maxLength: 20 }), fc.integer({ min: 1, max: 40 }), (strings, cap) => {
      // Act
      const script = 'export LC_ALL=C; . "$1"; shift; cap=$1; shift; for s in "$@"; do json_str "$s" "$cap"; echo; stage "$s" 2>&1; done';
      const lines = execFileSync('bash', ['-c', script, 'bash', COMMON, String(cap), ...strings], { encoding: 'utf8' }).split('\n');
      // Assess
      strings.forEach((s, i) => {
        expect(JSON.parse(lines[2 * i]!), JSON.stringify(s)).toBe(expected(s, printableOrSpace, cap, true));
        expect(lines[2 * i + 1], JSON.stringify(s)).toBe(`shipshape-stage: ${expected(s, printable, 120, false)}`);
      });
    }), { numRuns: 60 });
  });

  it('now_ms gives the epoch in milliseconds from EPOCHREALTIME, and from date without it', () => {
    // Act
    const [fast, slow] = execFileSync('bash', ['-c', '. "$1"; now_ms; unset EPOCHREALTIME; now_ms', 'bash', COMMON], { encoding: 'utf8' }).trim().split('\n').map(Number);
    // Assess: the clock of this process, give or take a minute, and millisecond digits (13 of them)
    for (const ms of [fast!, slow!]) {
      expect(String(ms)).toMatch(/^\d{13}$/);
      expect(Math.abs(ms - Date.now())).toBeLessThan(60_000);
    }
  });
});
