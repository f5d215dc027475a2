// Compares two bench runs figure by figure: what `inkstone bench compare` prints and gates on.
// Tests are matched by kind (ratio benches by their bench name too), then endpoints, pages,
// levels and targets by name; a figure is worse when it moved the wrong way by more than the
// threshold, relative to the base run.
import type { BenchResults, EndpointResult, Latency, Section } from './results.js';

/** Which way is good: more throughput, less latency. */
type Better = 'higher' | 'lower';

export type Verdict = 'worse' | 'better' | 'same' | 'new' | 'gone';

export interface Change {
  /** 'load', 'concurrency', 'cache', 'ratio:pages' (with #2 when a file has two of a kind). */
  test: string;
  /** 'home', 'home @50', 'sqlite/home-cached'. */
  item: string;
  /** 'req/s', 'p50 ms', 'p99 ms', 'ratio', 'warm p50 ms', 'cold ms'. */
  metric: string;
  before: number | null;
  after: number | null;
  /** after / before - 1; null when a side is missing or before is 0. */
  change: number | null;
  verdict: Verdict;
}

interface Figure {
  item: string;
  metric: string;
  value: number;
  better: Better;
}

/** Every comparable figure of a section, keyed by item and metric. */
function figures(section: Section): Figure[] {
  const endpoint = (item: string, e: EndpointResult): Figure[] => [
    { item, metric: 'req/s', value: e.throughput, better: 'higher' },
    ...latency(item, '', e.latency),
  ];
  // n 0: nothing was timed (every request failed, or the row counts completions only); its
  // zeros are not a latency to compare.
  const latency = (item: string, prefix: string, l: Latency): Figure[] =>
    l.n === 0
      ? []
      : [
          { item, metric: `${prefix}p50 ms`, value: l.p50, better: 'lower' },
          { item, metric: `${prefix}p99 ms`, value: l.p99, better: 'lower' },
        ];
  switch (section.kind) {
    case 'load':
      return section.endpoints.flatMap((e) => endpoint(e.endpoint, e));
    case 'concurrency':
      return section.levels.flatMap((level) =>
        level.endpoints.flatMap((e) => endpoint(`${e.endpoint} @${level.level}`, e)),
      );
    case 'cache':
      return section.pages.flatMap((page) => [
        { item: page.endpoint, metric: 'cold ms', value: page.cold.p50, better: 'lower' as const },
        ...latency(page.endpoint, 'warm ', page.warm),
      ]);
    case 'ratio':
      return section.rows.flatMap((row) => {
        const item = row.group ? `${row.group}/${row.target}` : row.target;
        // A row that timed latency only (the AI bench's time to first token) has throughput 0.
        const timedOnly = row.throughput === 0 && row.latency.n > 0;
        const list: Figure[] = [
          ...(timedOnly ? [] : [{ item, metric: 'req/s', value: row.throughput, better: 'higher' as const }]),
          ...latency(item, '', row.latency),
        ];
        if (row.ratio !== null) list.push({ item, metric: 'ratio', value: row.ratio, better: 'higher' });
        return list;
      });
  }
}

/** Sections by a name stable across runs: the kind, the ratio bench's name, #2 for a second one. */
function byTest(results: BenchResults): Map<string, Section> {
  const tests = new Map<string, Section>();
  for (const section of results.sections) {
    const name = section.kind === 'ratio' ? `ratio:${section.bench}` : section.kind;
    let key = name;
    for (let n = 2; tests.has(key); n++) key = `${name}#${n}`;
    tests.set(key, section);
  }
  return tests;
}

export function verdict(before: number, after: number, better: Better, threshold: number): Verdict {
  if (before === after) return 'same';
  // From 0 any change is infinitely large: call it by its direction.
  const change = before === 0 ? Math.sign(after) * Infinity : after / before - 1;
  const gain = better === 'higher' ? change : -change;
  if (gain < -threshold) return 'worse';
  if (gain > threshold) return 'better';
  return 'same';
}

/** `threshold` is a fraction: 0.1 for 10%. */
export function compareResults(base: BenchResults, next: BenchResults, threshold: number): Change[] {
  const changes: Change[] = [];
  const before = byTest(base);
  const after = byTest(next);
  const tests = [...new Set([...before.keys(), ...after.keys()])];
  for (const test of tests) {
    const old = before.get(test);
    const now = after.get(test);
    const oldFigures = new Map((old ? figures(old) : []).map((f) => [`${f.item}\0${f.metric}`, f]));
    const newFigures = new Map((now ? figures(now) : []).map((f) => [`${f.item}\0${f.metric}`, f]));
    for (const key of new Set([...oldFigures.keys(), ...newFigures.keys()])) {
      const a = oldFigures.get(key);
      const b = newFigures.get(key);
      const { item, metric } = (a ?? b)!;
      if (!a || !b) {
        changes.push({
          test,
          item,
          metric,
          before: a?.value ?? null,
          after: b?.value ?? null,
          change: null,
          verdict: a ? 'gone' : 'new',
        });
        continue;
      }
      changes.push({
        test,
        item,
        metric,
        before: a.value,
        after: b.value,
        change: a.value === 0 ? null : b.value / a.value - 1,
        verdict: verdict(a.value, b.value, a.better, threshold),
      });
    }
  }
  return changes;
}

/**
 * '10%', '10' (both ten per cent) or '2.5%' as a fraction (0.1, 0.025). Undefined when it is
 * not a non-negative number.
 */
export function parseThreshold(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*%?\s*$/.exec(text);
  return match ? Number(match[1]) / 100 : undefined;
}
