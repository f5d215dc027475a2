import { describe, expect, it } from 'vitest';
import { formatReport } from '../../bench/pages/report.js';
import {
  measurementOrder,
  mediansOf,
  type PagesBenchResult,
  type TargetResult,
} from '../../bench/pages/run.js';
import type { WrkResult } from '../../bench/pages/wrk.js';

// bench:pages --rounds N judges each target on the medians of its rounds: one unlucky window
// on a noisy machine does not fail it, but a round with errors always does.
function measured(
  target: TargetResult['target'],
  figures: { ratio: number; p99OverP50: number; p99OverBare: number },
  errors: Partial<WrkResult['errors']> = {},
): TargetResult {
  const wrk: WrkResult = {
    requests: 1000,
    durationS: 8,
    requestsPerSecond: 125,
    bytesPerResponse: 7000,
    latencyMs: { min: 1, p50: 3, p90: 4, p95: 5, p99: 6, max: 9, mean: 3 },
    errors: { connect: 0, read: 0, write: 0, status: 0, timeout: 0, ...errors },
  };
  return {
    target,
    path: '/',
    wrk,
    ...figures,
    cpuMsPerRequest: 0.03,
    probe: { status: 200, setCookie: [] },
    pass: true,
    missed: [],
  };
}

describe('bench:pages medians over rounds', () => {
  it('judges each target on its medians, and fails any target with errors in a round', () => {
    const medians = mediansOf([
      measured('baseline', { ratio: 1, p99OverP50: 2, p99OverBare: 1 }),
      measured('home-cached', { ratio: 0.95, p99OverP50: 1.5, p99OverBare: 1.1 }),
      measured('api', { ratio: 0.3, p99OverP50: 2, p99OverBare: 3 }),
      measured('baseline', { ratio: 1, p99OverP50: 2, p99OverBare: 1 }),
      // An unlucky window: the machine stalled.
      measured('home-cached', { ratio: 0.5, p99OverP50: 20, p99OverBare: 9 }),
      measured('api', { ratio: 0.3, p99OverP50: 2.5, p99OverBare: 3 }, { timeout: 1 }),
      measured('baseline', { ratio: 1, p99OverP50: 2, p99OverBare: 1 }),
      measured('home-cached', { ratio: 0.85, p99OverP50: 1.8, p99OverBare: 1.3 }),
      measured('api', { ratio: 0.2, p99OverP50: 4, p99OverBare: 3 }),
    ]);
    expect(medians.map((x) => x.target)).toEqual(['baseline', 'home-cached', 'api']);
    const [baseline, cached, api] = medians;
    expect(baseline).toMatchObject({ rounds: 3, pass: true, missed: [] });
    expect(cached).toMatchObject({ rounds: 3, ratio: 0.85, p99OverP50: 1.8, p99OverBare: 1.3, pass: true });
    // The API's medians meet its goals (0.3×, p99 2.5× p50); its second round timed out once.
    expect(api).toMatchObject({ rounds: 3, ratio: 0.3, p99OverP50: 2.5, pass: false });
    expect(api!.missed).toEqual(['errors, timeouts or a failed first GET in 1 of 3 measurements']);
  });

  it('names the goals the medians miss, and the report gives the medians and the verdict', () => {
    const targets = [
      measured('post-cached', { ratio: 0.7, p99OverP50: 2, p99OverBare: 1.2 }),
      measured('post-cached', { ratio: 0.9, p99OverP50: 2, p99OverBare: 1.9 }),
      measured('post-cached', { ratio: 0.75, p99OverP50: 2, p99OverBare: 1.6 }),
      measured('home', { ratio: 0.2, p99OverP50: 2, p99OverBare: 5 }),
      measured('home', { ratio: 0.2, p99OverP50: 3.5, p99OverBare: 5 }),
    ];
    const medians = mediansOf(targets);
    expect(medians[0]!.missed).toEqual([
      '0.75× the bare server, goal ≥ 0.8×',
      'p99 1.6× the bare p99, goal ≤ 1.5×',
    ]);
    // An even number of rounds: a round's own figure, the one on the side of the miss (the
    // upper of two tails), so two rounds that disagree are a miss.
    expect(medians[1]).toMatchObject({ ratio: 0.2, p99OverP50: 3.5, pass: false });
    expect(medians[1]!.missed).toEqual(['p99 3.5× p50, goal ≤ 3×']);
    const result = {
      generator: 'wrk',
      machine: { node: 'v20', cpus: 2, cpuModel: 'cpu', platform: 'linux-x64' },
      layout: { pinned: true, note: 'pinned' },
      loadAverage: { start: [1, 1, 1], end: [1, 1, 1] },
      settings: { pairs: 1, rounds: 3, freshProcesses: false },
      runs: [{ database: 'sqlite', targets, medians }],
      interrupted: false,
      pass: false,
    } as unknown as PagesBenchResult;
    const report = formatReport(result);
    expect(report).toContain("medians of each target's measurements (the verdict is theirs)");
    expect(report).toMatch(/post-cached\s+3\s+0\.750\s+2\.00\s+1\.60\s+FAIL/);
    expect(report).toMatch(/home\s+2\s+0\.200\s+3\.50\s+5\.00\s+FAIL/);
    expect(report).toContain('post-cached missed: 0.75× the bare server, goal ≥ 0.8×; p99 1.6× the bare p99');
  });
});

describe('bench:pages --pairs', () => {
  const chosen = [
    { target: 'baseline' },
    { target: 'lean-baseline' },
    { target: 'home-cached' },
    { target: 'busy-baseline' },
    { target: 'bare-cluster' },
    { target: 'post-cached-wauto', against: 'bare-cluster' },
  ] as const;
  const order = (options: { baselineBeforeEach?: boolean; pairs?: number }) =>
    measurementOrder(chosen, options).map((x) => x.target);

  it('measures each target N times in a row, each right after the bare server it is against', () => {
    expect(order({ pairs: 3 })).toEqual([
      // The lean bare server is a control too: once, against the bare server.
      ...['baseline', 'lean-baseline'],
      ...['baseline', 'home-cached', 'baseline', 'home-cached', 'baseline', 'home-cached'],
      // The busy bare server is a control (and a new process each time): once.
      ...['baseline', 'busy-baseline'],
      ...['baseline', 'bare-cluster', 'baseline', 'bare-cluster', 'baseline', 'bare-cluster'],
      // The `auto` targets' ratio is against the bare cluster, so it is their partner.
      ...['bare-cluster', 'post-cached-wauto', 'bare-cluster', 'post-cached-wauto'],
      ...['bare-cluster', 'post-cached-wauto'],
    ]);
  });

  it('keeps the other orders: each once, or each after the baseline', () => {
    expect(order({})).toEqual(chosen.map((x) => x.target));
    expect(order({ pairs: 1, baselineBeforeEach: true })).toEqual([
      ...['baseline', 'lean-baseline'],
      ...['baseline', 'home-cached', 'baseline', 'busy-baseline'],
      ...['baseline', 'bare-cluster', 'baseline', 'post-cached-wauto'],
    ]);
  });

  it('judges a target measured in pairs on its medians', () => {
    const medians = mediansOf([
      measured('baseline', { ratio: 1, p99OverP50: 2, p99OverBare: 1 }),
      measured('home-cached', { ratio: 0.78, p99OverP50: 2, p99OverBare: 1.2 }),
      measured('baseline', { ratio: 1, p99OverP50: 2, p99OverBare: 1 }),
      measured('home-cached', { ratio: 0.86, p99OverP50: 2, p99OverBare: 1.4 }),
      measured('baseline', { ratio: 1, p99OverP50: 2, p99OverBare: 1 }),
      measured('home-cached', { ratio: 0.84, p99OverP50: 2, p99OverBare: 1.7 }),
    ]);
    expect(medians[1]).toMatchObject({
      target: 'home-cached',
      rounds: 3,
      ratio: 0.84,
      p99OverBare: 1.4,
      pass: true,
    });
  });
});
