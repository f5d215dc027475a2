// `inkstone bench compare base.json new.json [--threshold 10%]`: a table of changes, and an
// exit code CI can gate on.
import type { BenchCommand } from './cli.js';
import { type Change, compareResults, parseThreshold } from './compare.js';
import { FlagError, parseFlags, runParsed } from './flags.js';
import { readResults, ResultsFileError } from './read-results.js';
import { formatNumber, formatTime, type Unit } from './report/format.js';

const HELP = `Usage: inkstone bench compare <base.json> <new.json> [--threshold 10%] [--changed]

Compares two saved bench runs (results.json) figure by figure and prints before → after:
  load, concurrency   per endpoint (and level): req/s, p50 and p99 latency
  cache               per page: the cold request, and the warm requests' p50 and p99
  pages, ai (ratio)   per target: req/s, p50, p99, and the ratio to the same run's baseline
Tests are matched by kind (ratio benches by name), endpoints, pages, levels and targets by name.

A figure is WORSE when it moved the wrong way (throughput or ratio down, latency up) by more
than the threshold, relative to the base run: with 10%, 1000 → 890 req/s or 10 → 11.5 ms is
worse; 1000 → 950 req/s is within it. It is "better" past the threshold the other way. A
figure only in one file is listed as new or gone and does not fail the comparison. Error
counts are not compared: read them in the report.

  --threshold N%   how far a figure may move the wrong way (default 10%; "10" is 10% too)
  --changed        list only figures that are worse, better, new or gone

Exit codes: 0 nothing worse than the threshold; 1 something is (the rows marked WORSE);
2 a file is missing, not JSON or not inkstone-bench/1 (the message names the field), or bad options.`;

const UNITS: Record<string, Unit> = { 'req/s': 'rate', ratio: 'ratio' };
const unitOf = (metric: string): Unit => UNITS[metric] ?? 'ms';

function formatChange(change: Change): string {
  if (change.change === null)
    return change.before === 0 && change.after !== null && change.after !== 0 ? 'from 0' : '';
  const pct = change.change * 100;
  return `${pct > 0 ? '+' : ''}${pct.toFixed(1)}%`;
}

const percent = (fraction: number) => `${+(fraction * 100).toFixed(2)}%`;

const MARKS: Record<Change['verdict'], string> = {
  worse: 'WORSE',
  better: 'better',
  same: '',
  new: 'new',
  gone: 'gone',
};

/** The comparison as a plain-text table. */
export function formatChanges(changes: Change[]): string {
  const header = ['test', 'item', 'metric', 'before', 'after', 'change', ''];
  const rows = changes.map((c) => [
    c.test,
    c.item,
    c.metric,
    c.before === null ? '—' : formatNumber(c.before, unitOf(c.metric)),
    c.after === null ? '—' : formatNumber(c.after, unitOf(c.metric)),
    formatChange(c),
    MARKS[c.verdict],
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  // Numbers right-aligned, names left-aligned.
  const right = new Set([3, 4, 5]);
  const line = (row: string[]) =>
    row
      .map((cell, i) => (right.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

interface CompareOptions {
  basePath: string;
  newPath: string;
  threshold: number;
  changed: boolean;
}

function options(args: string[]): CompareOptions | 'help' {
  const { values, switches, positionals } = parseFlags(args, {
    values: ['threshold'],
    switches: ['changed', 'help'],
    positionals: true,
  });
  if (switches.has('help')) return 'help';
  if (positionals.length !== 2)
    throw new FlagError('inkstone bench compare: give two results files, base then new');
  const text = values.get('threshold') ?? '10%';
  const threshold = parseThreshold(text);
  if (threshold === undefined)
    throw new FlagError(`inkstone bench compare: --threshold must be a percentage like 10%, not "${text}"`);
  return { basePath: positionals[0]!, newPath: positionals[1]!, threshold, changed: switches.has('changed') };
}

function run(args: string[]): Promise<number> {
  return runParsed(args, HELP, options, compare);
}

async function compare({ basePath, newPath, threshold, changed }: CompareOptions): Promise<number> {
  let changes: Change[];
  let header: string;
  try {
    const base = readResults(basePath);
    const next = readResults(newPath);
    changes = compareResults(base, next, threshold);
    header = `${basePath} (${formatTime(base.startedAt)}) → ${newPath} (${formatTime(next.startedAt)}), threshold ${percent(threshold)}`;
  } catch (error) {
    if (error instanceof ResultsFileError) {
      console.error(`inkstone bench compare: ${error.message}`);
      return 2;
    }
    throw error;
  }
  const shown = changed ? changes.filter((c) => c.verdict !== 'same') : changes;
  console.log(header);
  console.log('');
  console.log(shown.length ? formatChanges(shown) : '(no figures changed past the threshold)');
  console.log('');
  const worse = changes.filter((c) => c.verdict === 'worse');
  const better = changes.filter((c) => c.verdict === 'better').length;
  if (worse.length) {
    console.log(
      `${worse.length} figure${worse.length === 1 ? '' : 's'} worse by more than ${percent(threshold)}: ` +
        worse.map((c) => `${c.test} ${c.item} ${c.metric} ${formatChange(c)}`).join('; '),
    );
    return 1;
  }
  console.log(
    `Nothing worse by more than ${percent(threshold)} (${better} better, ${changes.length} compared).`,
  );
  return 0;
}

export const command: BenchCommand = {
  summary: 'compare two results.json files; exits 1 when a figure is worse than --threshold (CI)',
  run,
};
