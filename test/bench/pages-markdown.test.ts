import { describe, expect, it } from 'vitest';
import { formatMarkdownTable, verdictOf } from '../../bench/pages/markdown.js';
import type { PagesBenchResult, TargetResult } from '../../bench/pages/run.js';

// npm run bench:pages:table: the README's table is computed from a kept sample, each cell a
// median of the target's measurements on the side of a miss, a missed goal in italics.
function measured(
  target: TargetResult['target'],
  rps: number,
  p50: number,
  p99: number,
  ratio: number,
  p99OverBare: number,
): TargetResult {
  return {
    target,
    path: '/',
    wrk: {
      requests: rps * 2,
      durationS: 2,
      requestsPerSecond: rps,
      bytesPerResponse: 7000,
      latencyMs: { min: 1, p50, p90: p99, p95: p99, p99, max: p99, mean: p50 },
      errors: { connect: 0, read: 0, write: 0, status: 0, timeout: 0 },
    },
    ratio,
    p99OverP50: p99 / p50,
    p99OverBare,
    cpuMsPerRequest: 0.03,
    probe: { status: 200, setCookie: [] },
    pass: true,
    missed: [],
  };
}

function run(targets: TargetResult[]): PagesBenchResult {
  return {
    bench: 'pages',
    startedAt: '2026-12-06T00:00:00.000Z',
    finishedAt: '2026-12-06T00:30:00.000Z',
    generator: 'wrk',
    machine: { node: 'v20', cpus: 2, cpuModel: 'test', platform: 'linux' },
    layout: { pinned: true, note: '' },
    loadAverage: { start: [0, 0, 0], end: [0, 0, 0] },
    settings: {
      databases: ['sqlite'],
      connections: 100,
      threads: 1,
      durationS: 2,
      warmupS: 3,
      timeoutS: 2,
      pin: true,
      clusterWorkers: 2,
    },
    runs: [{ database: 'sqlite', baselineSameBytes: true, homeBytes: 7000, targets }],
    interrupted: false,
    pass: false,
  };
}

describe('bench:pages:table', () => {
  const result = run([
    measured('baseline', 40_000, 2, 4, 1, 1),
    measured('home-cached', 30_000, 2.2, 4.4, 0.75, 1.1),
    measured('home', 5_000, 10, 20, 0.12, 5),
    measured('baseline', 50_000, 1.8, 3.6, 1, 1),
    measured('home-cached', 42_000, 2, 8, 0.84, 2),
    measured('home', 6_000, 8, 40, 0.13, 10),
  ]);

  it('takes the lower middle of two throughputs and the upper of two latencies', () => {
    const [header, rule, bare, cached, home] = formatMarkdownTable(result).split('\n');
    expect(header).toBe('| target | SQLite req/s | × bare | p50 ms | p99 ms | p99 / bare p99 |');
    expect(rule).toBe('| --- | ---: | ---: | ---: | ---: | ---: |');
    expect(bare).toBe('| bare `node:http` | 40,000 | 1.00 | 2.0 | 4.0 | 1.00 |');
    // 0.75× misses the 0.8× goal, p99 2× the bare one's misses 1.5×.
    expect(cached).toBe('| home-cached | 30,000 | _0.75_ | 2.2 | 8.0 | _2.00_ |');
    // p99 5× p50 in one of two measurements: the upper middle misses ≤ 3×.
    expect(home).toBe('| home | 5,000 | 0.12 | 10.0 | _40.0_ | 10.00 |');
  });

  it('judges the stored measurements by the current rule and names each miss', () => {
    expect(verdictOf(result).split('\n')).toEqual([
      '0 of the 2 rows that have goals met.',
      '- SQLite home-cached: 0.75× the bare server, goal ≥ 0.8×; p99 2× the bare p99, goal ≤ 1.5×',
      '- SQLite home: p99 5× p50, goal ≤ 3×',
    ]);
  });
});
