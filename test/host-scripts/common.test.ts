/**
 * lib/common.sh's string helpers, which every result and progress line goes through: json_str
 * (JSON string of printable ASCII, tab, newline and carriage return, capped) and stage (one
 * progress line of printable ASCII). Both take a fast path without `tr | head` when the string is
 * already printable; over generated strings they must give exactly what the byte rule says.
 * now_ms reads bash 5's EPOCHREALTIME, and utc_at/utc_now the calendar, instead of starting date.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

  it('utc_at gives the UTC date and time date -u gives, across leap days, centuries and year ends; utc_now the current one', () => {
    // Prepare: epochs around the calendar's edge cases, and some fast-check picks up to 9999
    const epochs = [0, 59, 86_399, 86_400, 951_782_399, 951_782_400, 951_868_800, 1_709_164_800, 1_735_689_599, 1_735_689_600, 4_107_542_400, 4_107_628_800, 253_402_300_799,
      ...fc.sample(fc.integer({ min: 0, max: 253_402_300_799 }), 40)];
    // Act
    const ours = execFileSync('bash', ['-c', '. "$1"; shift; for e in "$@"; do utc_at "$e"; echo "$UTC_ISO $UTC_STAMP"; done; utc_now; echo "$UTC_ISO"; date -u +%Y-%m-%dT%H:%M:%SZ',
      'bash', COMMON, ...epochs.map(String)], { encoding: 'utf8', env: { ...process.env, TZ: 'America/New_York' } }).trim().split('\n');
    const dates = execFileSync('bash', ['-c', 'for e in "$@"; do date -u -d "@$e" "+%Y-%m-%dT%H:%M:%SZ %Y%m%dT%H%M%SZ"; done', 'bash', ...epochs.map(String)], { encoding: 'utf8' }).trim().split('\n');
    // Assess: the same for every epoch, in a zone that is not UTC; now within the second date -u read after it
    expect(ours.slice(0, epochs.length)).toEqual(dates);
    const [now, after] = ours.slice(epochs.length).map((t) => Date.parse(t));
    expect(after! - now!).toBeGreaterThanOrEqual(0);
    expect(after! - now!).toBeLessThanOrEqual(1000);
  });
});

describe('docker time limits (lib/common.sh)', () => {
  it('reads SHIPSHAPE_DOCKER_TIMEOUT_SECONDS as decimal seconds, 0 as no limit, anything else as the default, and listings get half as long again', () => {
    // Act
    const limits = ['', '5', '08', '0', 'abc', '-3', '1e3'].map((v) => execFileSync('bash', ['-c', 'set -euo pipefail; . "$1"; echo "$DOCKER_T $DOCKER_LONG_T"', 'bash', COMMON],
      { encoding: 'utf8', env: { ...process.env, SHIPSHAPE_DOCKER_TIMEOUT_SECONDS: v } }).trim());
    // Assess
    expect(limits).toEqual(['20 30', '5 7', '8 12', '0 0', '20 30', '20 30', '20 30']);
  });
});

describe('claim_stack (lib/common.sh): one run that changes a stack at a time on a host', () => {
  /** A bash that sourced common.sh, with errors printed as "ERR <text>". */
  const prelude = (lockDir: string) => `set -euo pipefail; . "${COMMON}"; note_error() { echo "ERR $1"; }; STACK=web; LOCK_DIR='${lockDir}'; `;
  const bashRun = (script: string, env: Record<string, string> = {}) => new Promise<string>((resolve, reject) => {
    const child = spawn('bash', ['-c', script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', () => resolve(out));
  });

  it('makes a second run wait until the first lets the stack go', async () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'claim-'));
    const log = join(dir, 'log');
    const run = (name: string) => `${prelude(dir)} claim_stack ${name}; echo "$(cat '${log}' 2>/dev/null)${name}-in " > '${log}'; sleep 1; echo "$(cat '${log}')${name}-out " > '${log}'; clear_busy`;
    // Act: B starts while A holds the stack
    const a = bashRun(run('A'));
    await new Promise((r) => setTimeout(r, 300));
    const b = bashRun(run('B'));
    await Promise.all([a, b]);
    // Assess: B went in only after A came out
    expect(readFileSync(log, 'utf8').trim()).toBe('A-in A-out B-in B-out');
  });

  it('fails when the stack stays busy past the wait, naming what holds it, and leaves its mark alone', async () => {
    // Prepare: a restore holds the stack
    const dir = mkdtempSync(join(tmpdir(), 'claim-'));
    const holder = spawn('bash', ['-c', `${prelude(dir)} mark_busy restore; echo held; sleep 60`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((r) => holder.stdout!.once('data', () => r()));
    // Act
    const out = await bashRun(`${prelude(dir)} if claim_stack backup; then echo claimed; fi; clear_busy`, { SHIPSHAPE_STACK_LOCK_WAIT_SECONDS: '1' });
    holder.kill('SIGKILL');
    // Assess
    expect(out.trim()).toBe('ERR stack web is busy on this host with restore (waited 1 s): backup did nothing; run it again once that has finished');
    expect(readFileSync(join(dir, 'web.busy'), 'utf8').trim(), 'the failed claim cleared the holder\'s mark').toBe('restore');
  });

  it('frees the stack when the run holding it is killed (SIGKILL: no trap runs)', async () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'claim-'));
    const killed = spawn('bash', ['-c', `${prelude(dir)} claim_stack backup; echo claimed; sleep 60`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((r) => killed.stdout!.once('data', () => r()));
    // Act
    killed.kill('SIGKILL');
    const out = await bashRun(`${prelude(dir)} claim_stack backup && echo claimed`, { SHIPSHAPE_STACK_LOCK_WAIT_SECONDS: '10' });
    // Assess
    expect(out.trim()).toBe('claimed');
  });

  it('lets a run started inside the claiming run (maintenance\'s backup) go on, and keeps the stack claimed after it', async () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'claim-'));
    writeFileSync(join(dir, 'ready'), '');
    // Act: the inner run claims and clears as backup.sh does; then another process tries while the outer still runs
    const out = await bashRun(`${prelude(dir)} claim_stack maintenance; ( mark_busy backup && echo inner-claimed; clear_busy ); bash -c '${prelude(dir).replace(/'/g, "'\\''")} SHIPSHAPE_STACK_CLAIM= claim_stack backup || true' ; clear_busy`, { SHIPSHAPE_STACK_LOCK_WAIT_SECONDS: '1' });
    // Assess
    expect(out.trim().split('\n')).toEqual(['inner-claimed', expect.stringMatching(/^ERR stack web is busy on this host with .*backup did nothing/)]);
  });
});
