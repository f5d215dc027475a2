import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { compareResults, parseThreshold, verdict } from '../../src/bench/compare.js';
import { readResults } from '../../src/bench/read-results.js';
import type { BenchResults, LoadSection } from '../../src/bench/results.js';

// `inkstone bench compare` as CI runs it: the real command, its table and its exit code.
const run = promisify(execFile);
const folder = mkdtempSync(join(tmpdir(), 'inkstone-compare-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

const LOAD = 'test/fixtures/bench/load.json';
const load = () => JSON.parse(readFileSync(LOAD, 'utf8')) as BenchResults;

function write(name: string, data: unknown): string {
  const file = join(folder, name);
  writeFileSync(file, typeof data === 'string' ? data : JSON.stringify(data));
  return file;
}

/** A copy of the load fixture with one endpoint's figures changed. */
function changed(name: string, edit: (section: LoadSection) => void): string {
  const results = load();
  edit(results.sections[0] as LoadSection);
  return write(name, results);
}

async function compare(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      ['--import', 'tsx', 'src/cli/index.ts', 'bench', 'compare', ...args],
      { env: { ...process.env, NO_COLOR: '1' } },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const { code, stdout, stderr } = error as { code: number; stdout: string; stderr: string };
    return { code, stdout, stderr };
  }
}

/** The printed row for an item and metric. */
const row = (stdout: string, item: string, metric: string) =>
  stdout
    .split('\n')
    .find((line) => new RegExp(`^load\\s+${item}\\s+${metric.replace('/', '\\/')}\\s`).test(line));

describe('inkstone bench compare', () => {
  it(
    'a throughput drop past the threshold exits 1 with its row marked WORSE',
    { timeout: 30_000 },
    async () => {
      const slower = changed('slower.json', (s) => {
        s.endpoints[0]!.throughput = 59.9; // home: 70.466 → 59.9, −15.0 %
        s.endpoints[2]!.latency.p99 = 121.4; // login p99: 97.125 → 121.4, +25.0 %
      });
      const { code, stdout } = await compare(LOAD, slower, '--threshold', '10%');
      expect(code).toBe(1);
      expect(row(stdout, 'home', 'req/s')).toMatch(/70\.5\s+59\.9\s+-15\.0%\s+WORSE$/);
      expect(row(stdout, 'login', 'p99 ms')).toMatch(/97\.1\s+121\s+\+25\.0%\s+WORSE$/);
      // Unchanged figures are listed without a mark.
      expect(row(stdout, 'post', 'req/s')).toMatch(/34\.9\s+34\.9\s+\+?0\.0%$/);
      expect(stdout).toContain('2 figures worse by more than 10');

      // A wider threshold lets the same drop through.
      const wide = await compare(LOAD, slower, '--threshold', '30');
      expect(wide.code).toBe(0);
      expect(wide.stdout).toContain('Nothing worse by more than 30');
    },
  );

  it('changes within the threshold, or for the better, exit 0', { timeout: 60_000 }, async () => {
    const close = changed('close.json', (s) => {
      s.endpoints[0]!.throughput = 66.9; // −5.1 %
      s.endpoints[1]!.latency.p50 = 3.1; // post p50: 5.108 → 3.1, −39 %: better
    });
    const { code, stdout } = await compare(LOAD, close, '--changed');
    expect(code).toBe(0);
    expect(row(stdout, 'post', 'p50 ms')).toMatch(/better$/);
    // --changed leaves out figures within the threshold.
    expect(row(stdout, 'home', 'req/s')).toBeUndefined();
    expect(stdout).toContain('1 better');
  });

  it('a bad file exits 2 and names the field', { timeout: 60_000 }, async () => {
    const results = load();
    delete (results.sections[0] as unknown as { endpoints: { latency: Record<string, unknown> }[] })
      .endpoints[1]!.latency['p99'];
    const broken = write('broken.json', results);
    const missing = await compare(LOAD, broken);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(
      `${broken}: sections[0].endpoints[1].latency.p99 is missing (expected a number)`,
    );

    const other = write('other.json', { ...load(), schema: 'inkstone-bench/0' });
    const schema = await compare(other, LOAD);
    expect(schema.code).toBe(2);
    expect(schema.stderr).toContain('schema is "inkstone-bench/0", expected "inkstone-bench/1"');

    const notJson = await compare(LOAD, write('nope.json', '{"schema": '));
    expect(notJson.code).toBe(2);
    expect(notJson.stderr).toContain('is not JSON');

    const threshold = await compare(LOAD, LOAD, '--threshold', 'ten');
    expect(threshold.code).toBe(2);
    expect(threshold.stderr).toContain('--threshold');
  });

  it('names the field wherever it is wrong', () => {
    const bad = (edit: (data: Record<string, unknown>) => void) => {
      const data = load() as unknown as Record<string, unknown>;
      edit(data);
      try {
        readResults(write('bad.json', data));
      } catch (error) {
        return (error as Error).message;
      }
      return 'accepted';
    };
    expect(bad((d) => ((d.machine as Record<string, unknown>).cpus = '2'))).toContain(
      'machine.cpus must be a number, not "2"',
    );
    expect(bad((d) => ((d.sections as Record<string, unknown>[])[0]!.kind = 'soak'))).toContain(
      'sections[0].kind is "soak"',
    );
    expect(
      bad(
        (d) =>
          (((d.sections as Record<string, unknown>[])[0]!.timeline as Record<string, unknown>[])[3]!.p99 =
            null),
      ),
    ).toContain('sections[0].timeline[3].p99 must be a number, not null');
    expect(bad((d) => ((d.sections as Record<string, unknown>[])[0]!.notes = ['fine', 7]))).toContain(
      'sections[0].notes[1] must be a string, not 7',
    );
    for (const kind of ['load', 'cache', 'concurrency', 'ratio'])
      expect(() => readResults(`test/fixtures/bench/${kind}.json`)).not.toThrow();
  });

  it('matches tests, endpoints and levels by name; one side only is new or gone, not worse', () => {
    const base = readResults('test/fixtures/bench/concurrency.json');
    const next = structuredClone(base);
    const section = next.sections[0]!;
    if (section.kind !== 'concurrency') throw new Error('fixture is not a concurrency run');
    section.levels.pop(); // level 500 not reached this time
    section.levels[0]!.endpoints.reverse(); // order does not matter
    section.levels[1]!.endpoints[0]!.latency.p50 *= 2;
    const changes = compareResults(base, next, 0.1);
    const home5 = changes.find((c) => c.item === 'home @5' && c.metric === 'p50 ms')!;
    expect(home5).toMatchObject({ test: 'concurrency', verdict: 'worse' });
    expect(home5.change).toBeCloseTo(1, 10);
    expect(changes.filter((c) => c.item.endsWith('@1')).every((c) => c.verdict === 'same')).toBe(true);
    expect(changes.filter((c) => c.verdict === 'gone').map((c) => c.item)).toContain('api-posts @500');
    expect(changes.filter((c) => c.verdict === 'worse')).toHaveLength(1);
    // Another kind of test in the new file is new, the old one gone.
    const other = compareResults(base, readResults('test/fixtures/bench/ratio.json'), 0.1);
    expect(new Set(other.map((c) => c.verdict))).toEqual(new Set(['gone', 'new']));
  });

  it('compares only what was measured: no latency without samples, no rate of a row that timed only', () => {
    const base = readResults('test/fixtures/bench/ratio.json');
    const rows = (results: BenchResults) =>
      results.sections[0]!.kind === 'ratio' ? results.sections[0]!.rows : [];
    const empty = { n: 0, min: 0, mean: 0, p50: 0, p90: 0, p95: 0, p99: 0, max: 0 };
    rows(base)[2]!.throughput = 0; // sqlite/post: a time-to-first-token row
    rows(base)[3]!.latency = { ...empty }; // sqlite/home-cached: a completions-per-second row
    const next = structuredClone(base);
    rows(next)[2]!.latency.p50 *= 3;
    rows(next)[3]!.throughput /= 2;
    const changes = compareResults(base, next, 0.1);
    expect(changes.filter((c) => c.item === 'sqlite/post').map((c) => c.metric)).toEqual([
      'p50 ms',
      'p99 ms',
      'ratio',
    ]);
    expect(changes.filter((c) => c.item === 'sqlite/home-cached').map((c) => c.metric)).toEqual([
      'req/s',
      'ratio',
    ]);
    expect(changes.filter((c) => c.verdict === 'worse').map((c) => `${c.item} ${c.metric}`)).toEqual([
      'sqlite/post p50 ms',
      'sqlite/home-cached req/s',
    ]);
  });

  it('thresholds and verdicts', () => {
    expect(parseThreshold('10%')).toBe(0.1);
    expect(parseThreshold('2.5')).toBe(0.025);
    expect(parseThreshold('-5%')).toBeUndefined();
    expect(parseThreshold('abc')).toBeUndefined();
    expect(verdict(1000, 890, 'higher', 0.1)).toBe('worse');
    expect(verdict(1000, 950, 'higher', 0.1)).toBe('same');
    expect(verdict(10, 11.5, 'lower', 0.1)).toBe('worse');
    expect(verdict(10, 8, 'lower', 0.1)).toBe('better');
    expect(verdict(0, 3, 'lower', 0.1)).toBe('worse');
    expect(verdict(0, 3, 'higher', 0.1)).toBe('better');
  });
});
