// Percentiles and summaries of timing samples, in ms.
import { loadavg } from 'node:os';

export interface Summary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  mean: number;
  min: number;
  max: number;
}

/** Linear interpolation between the closest ranks (the R-7 / NumPy default). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = (p / 100) * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (rank - low);
}

export function summarize(samples: readonly number[]): Summary {
  const sorted = samples.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    n: sorted.length,
    p50: round(percentile(sorted, 50)),
    p90: round(percentile(sorted, 90)),
    p99: round(percentile(sorted, 99)),
    mean: round(sorted.length ? sum / sorted.length : NaN),
    min: round(sorted[0] ?? NaN),
    max: round(sorted.at(-1) ?? NaN),
  };
}

/** Three decimals: microseconds are the finest a performance.now() difference here means. */
export function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export type LoadAverage = [number, number, number];

/** The machine's 1, 5 and 15 minute load averages (other work on the machine shows here). */
export function loadAverage(): LoadAverage {
  const [a, b, c] = loadavg();
  return [round(a ?? NaN, 2), round(b ?? NaN, 2), round(c ?? NaN, 2)];
}
