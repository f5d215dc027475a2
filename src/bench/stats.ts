// Percentiles and summaries of timing samples (ms), shared by every `inkstone bench` test and
// the report, so a p99 means the same thing in each of them.
import { cpus, hostname, loadavg, totalmem } from 'node:os';
import type { Latency, MachineInfo } from './results.js';

/**
 * The p-th percentile (0…100) of samples sorted ascending, by linear interpolation between the
 * closest ranks (R-7, NumPy's and Excel's default; the same as bench/ai/stats.ts). NaN when empty.
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = (Math.min(100, Math.max(0, p)) / 100) * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (rank - low);
}

/**
 * Latency of a set of samples, in any order. Non-finite samples are dropped. With no samples
 * every figure is 0 and n is 0: JSON has no NaN, and a reader tells "nothing measured" by n.
 */
export function summarize(samples: readonly number[]): Latency {
  const sorted = samples.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (sorted.length === 0) return { n: 0, min: 0, mean: 0, p50: 0, p90: 0, p95: 0, p99: 0, max: 0 };
  let sum = 0;
  for (const x of sorted) sum += x;
  return {
    n: sorted.length,
    min: round(sorted[0]!),
    mean: round(sum / sorted.length),
    p50: round(percentile(sorted, 50)),
    p90: round(percentile(sorted, 90)),
    p95: round(percentile(sorted, 95)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted.at(-1)!),
  };
}

/**
 * The median; of an even count one of the two middle ones, so that it is a round's own figure:
 * the lower one, or with `upper` the upper one. A goal is judged on the middle that is on the
 * side of missing it (the lower of two throughputs, the upper of two tails), so that two rounds
 * that disagree count as a miss.
 */
export function median(values: readonly number[], middle: 'lower' | 'upper' = 'lower'): number {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (sorted.length - 1) / 2;
  return sorted[middle === 'lower' ? Math.floor(at) : Math.ceil(at)] ?? NaN;
}

/** Three decimals: a microsecond is the finest a performance.now() difference means here. */
export function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** a / b, or 0 when b is 0 (a rate over no time or no requests is reported as none). */
export function ratio(a: number, b: number): number {
  return b === 0 ? 0 : a / b;
}

export type LoadAverage = [number, number, number];

/** The 1, 5 and 15 minute load averages: other work on the machine shows here. */
export function loadAverage(): LoadAverage {
  const [a = 0, b = 0, c = 0] = loadavg();
  return [round(a, 2), round(b, 2), round(c, 2)];
}

/** The machine a run measured from; `loadAtStart` is loadAverage() taken before the run. */
export function machineInfo(loadAtStart: LoadAverage): MachineInfo {
  const cores = cpus();
  return {
    hostname: hostname(),
    platform: process.platform,
    arch: process.arch,
    cpus: cores.length,
    cpuModel: cores[0]?.model.trim() ?? 'unknown',
    memoryBytes: totalmem(),
    node: process.version,
    loadAverage: { start: loadAtStart, end: loadAverage() },
  };
}
