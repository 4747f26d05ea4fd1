/**
 * Paired, interleaved runs: every round runs each variant once (A B C, then B C A, ... so no
 * variant always runs first), after warm-up rounds that are not counted. Ratios are taken per
 * round (the variants of one round ran under the same machine load) and reported as
 * median (min-max) over the rounds.
 */
import { loadavg } from 'node:os';

export interface Sample { seconds: number; peakRssMB: number }
export interface Variant<T extends Sample = Sample> { name: string; run: (round: number) => Promise<T>; after?: (round: number) => Promise<void> | void }
export interface Spread { median: number; min: number; max: number }
export interface PairedResult<T extends Sample = Sample> { rounds: number; warmup: number; samples: Record<string, T[]>; loadBefore: number[]; loadAfter: number[] }

export function spread(xs: number[]): Spread {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  return { median: mid, min: s[0]!, max: s.at(-1)! };
}

export function fmt(s: Spread, digits = 2, unit = ''): string {
  return `${s.median.toFixed(digits)}${unit} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;
}

export async function paired<T extends Sample>(variants: Variant<T>[], rounds: number, warmup = 1, log: (s: string) => void = () => {}): Promise<PairedResult<T>> {
  const samples: Record<string, T[]> = Object.fromEntries(variants.map((v) => [v.name, []]));
  const loadBefore = loadavg();
  for (let r = 0; r < warmup + rounds; r++) {
    const order = variants.map((_, i) => variants[(i + r) % variants.length]!);
    for (const v of order) {
      const s = await v.run(r);
      await v.after?.(r);
      if (r >= warmup) samples[v.name]!.push(s);
      log(`  ${r < warmup ? 'warm-up' : `round ${r - warmup + 1}/${rounds}`}: ${v.name}: ${s.seconds.toFixed(2)} s, ${s.peakRssMB.toFixed(0)} MB`);
    }
  }
  return { rounds, warmup, samples, loadBefore, loadAfter: loadavg() };
}

/** Per-round ratio a/b of a field (seconds by default). */
export function ratio<T extends Sample>(res: PairedResult<T>, a: string, b: string, field: (s: T) => number = (s) => s.seconds): Spread {
  const xs = res.samples[a]!.map((s, i) => field(s) / field(res.samples[b]![i]!));
  return spread(xs);
}

export function stat<T extends Sample>(res: PairedResult<T>, name: string, field: (s: T) => number): Spread {
  return spread(res.samples[name]!.map(field));
}
