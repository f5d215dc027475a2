import { describe, expect, it } from 'vitest';
import { loadAverage, machineInfo, percentile, ratio, round, summarize } from '../../src/bench/stats.js';

// Every expected value below is worked out by hand with R-7: rank = p/100 × (n − 1), then
// linear interpolation between the samples at floor(rank) and ceil(rank).
describe('bench statistics', () => {
  it('summarizes 1..100', () => {
    const samples = Array.from({ length: 100 }, (_, i) => i + 1);
    // p50: rank 49.5 → 50 + 0.5 × (51 − 50); p90: rank 89.1 → 90.1; p95: 94.05 → 95.05; p99: 98.01 → 99.01.
    expect(summarize(samples)).toEqual({
      n: 100,
      min: 1,
      mean: 50.5,
      p50: 50.5,
      p90: 90.1,
      p95: 95.05,
      p99: 99.01,
      max: 100,
    });
  });

  it('summarizes unsorted samples with duplicates', () => {
    // Sorted: 1 3 3 5 10. p50: rank 2 → 3. p90: rank 3.6 → 5 + 0.6 × 5 = 8.
    // p95: rank 3.8 → 9. p99: rank 3.96 → 9.8. Mean 22 / 5.
    expect(summarize([5, 3, 10, 1, 3])).toEqual({
      n: 5,
      min: 1,
      mean: 4.4,
      p50: 3,
      p90: 8,
      p95: 9,
      p99: 9.8,
      max: 10,
    });
  });

  it('summarizes a single sample as itself', () => {
    expect(summarize([7.25])).toEqual({
      n: 1,
      min: 7.25,
      mean: 7.25,
      p50: 7.25,
      p90: 7.25,
      p95: 7.25,
      p99: 7.25,
      max: 7.25,
    });
  });

  it('summarizes no samples as n 0 and zeros (JSON has no NaN)', () => {
    const empty = summarize([]);
    expect(empty).toEqual({ n: 0, min: 0, mean: 0, p50: 0, p90: 0, p95: 0, p99: 0, max: 0 });
    expect(JSON.parse(JSON.stringify(empty))).toEqual(empty);
  });

  it('drops samples that are not finite numbers', () => {
    // Left: 2 4. p50: rank 0.5 → 3. p90: rank 0.9 → 2 + 0.9 × 2 = 3.8.
    const s = summarize([Number.NaN, 4, Number.POSITIVE_INFINITY, 2]);
    expect(s).toMatchObject({ n: 2, min: 2, p50: 3, p90: 3.8, max: 4, mean: 3 });
  });

  it('rounds to microseconds', () => {
    expect(summarize([1.23456]).p50).toBe(1.235);
    expect(round(2.0004)).toBe(2);
    expect(round(0.125, 2)).toBe(0.13);
  });

  it('gives the ends at 0 and 100, clamps beyond, and NaN when empty', () => {
    const sorted = [10, 20, 30];
    expect(percentile(sorted, 0)).toBe(10);
    expect(percentile(sorted, 100)).toBe(30);
    expect(percentile(sorted, 25)).toBe(15);
    expect(percentile(sorted, 150)).toBe(30);
    expect(percentile([], 50)).toBeNaN();
  });

  it('divides by zero as no rate', () => {
    expect(ratio(5, 0)).toBe(0);
    expect(ratio(5, 2)).toBe(2.5);
  });

  it('describes the machine', () => {
    const start = loadAverage();
    expect(start).toHaveLength(3);
    const info = machineInfo(start);
    expect(info.cpus).toBeGreaterThan(0);
    expect(info.memoryBytes).toBeGreaterThan(0);
    expect(info.node).toBe(process.version);
    expect(info.loadAverage.start).toBe(start);
    expect(info.loadAverage.end).toHaveLength(3);
    expect(info.cpuModel.length).toBeGreaterThan(0);
  });
});
