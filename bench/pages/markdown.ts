// The README's table of a page-benchmark run ("Where it stands"): one row per target, one group of
// columns per database, each cell a median of the target's measurements, so that the table in
// the README is computed from a kept sample (bench/samples/) and not copied by hand.
import { median } from '../../src/bench/stats.js';
import {
  GOALS,
  goalMisses,
  mediansOf,
  type PagesBenchResult,
  type TargetName,
  type TargetResult,
} from './run.js';

const LABELS: Record<TargetName, string> = {
  baseline: 'bare `node:http`',
  'lean-baseline': 'bare, 2 headers',
  home: 'home',
  'busy-baseline': 'bare + home CPU',
  post: 'post',
  api: '`/api/v1/posts`',
  'home-signed-in': 'home, signed in',
  'home-cached': 'home-cached',
  'post-cached': 'post-cached',
  'home-cached-w1': 'home-cached-w1',
  'post-cached-w1': 'post-cached-w1',
  'bare-cluster': 'bare cluster',
  'home-cached-wauto': 'home-cached-wauto',
  'post-cached-wauto': 'post-cached-wauto',
};

const DATABASES = { sqlite: 'SQLite', postgres: 'PostgreSQL + Redis' } as const;

const thousands = (x: number) => Math.round(x).toLocaleString('en-US');
const fixed = (digits: number) => (x: number) => x.toFixed(digits);
const missed = (cell: string, miss: boolean) => (miss ? `_${cell}_` : cell);

/**
 * The figures the verdict is on (ratio, p99/bare) are mediansOf's own, and a miss is what
 * goalMisses says of them; the others follow the same rule: of an even count, the lower middle
 * throughput and the upper middle latency, the figure on the side of a miss.
 */
function cells(target: TargetName, measured: TargetResult[]): string[] {
  const [medians] = mediansOf(measured);
  if (medians === undefined) return ['', '', '', '', ''];
  const misses = goalMisses(target, medians);
  const high = (f: (x: TargetResult) => number) => median(measured.map(f), 'upper');
  return [
    thousands(median(measured.map((x) => x.wrk.requestsPerSecond))),
    missed(fixed(2)(medians.ratio), misses.ratio),
    fixed(1)(high((x) => x.wrk.latencyMs.p50)),
    missed(fixed(1)(high((x) => x.wrk.latencyMs.p99)), misses.p99OverP50),
    missed(fixed(2)(medians.p99OverBare), misses.p99OverBare),
  ];
}

/** The table, Markdown; a miss of a goal (on the medians) in italics. */
export function formatMarkdownTable(result: PagesBenchResult): string {
  const runs = result.runs.filter((run) => !run.skipped);
  const order = [...new Set(runs.flatMap((run) => run.targets.map((x) => x.target)))];
  const header = [
    'target',
    ...runs.flatMap((run) => [
      `${DATABASES[run.database]} req/s`,
      '× bare',
      'p50 ms',
      'p99 ms',
      'p99 / bare p99',
    ]),
  ];
  const rows = order.map((target) => [
    target === 'bare-cluster' ? `bare cluster of ${result.settings.clusterWorkers}` : LABELS[target],
    ...runs.flatMap((run) =>
      cells(
        target,
        run.targets.filter((x) => x.target === target),
      ),
    ),
  ]);
  const line = (row: string[]) => `| ${row.join(' | ')} |`;
  const rule = header.map((_, i) => (i === 0 ? '---' : '---:'));
  return [line(header), line(rule), ...rows.map(line)].join('\n');
}

/**
 * "N of M rows that have goals met", and each miss: judged by the bench's current rule (mediansOf)
 * on the stored measurements, so that a sample from before a change of rule is judged anew.
 */
export function verdictOf(result: PagesBenchResult): string {
  const judged = result.runs.flatMap((run) =>
    mediansOf(run.targets)
      .filter((x) => GOALS[x.target] !== undefined)
      .map((x) => ({ database: run.database, ...x })),
  );
  const met = judged.filter((x) => x.missed.length === 0).length;
  return [
    `${met} of the ${judged.length} rows that have goals met.`,
    ...judged
      .filter((x) => x.missed.length)
      .map((x) => `- ${DATABASES[x.database]} ${x.target}: ${x.missed.join('; ')}`),
  ].join('\n');
}
