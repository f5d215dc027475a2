import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DomUtils, parseDocument } from 'htmlparser2';
import type { Element } from 'domhandler';
import { describe, expect, it, vi } from 'vitest';
import { readResults } from '../../src/bench/read-results.js';
import { langFromEnv, renderReport, type ReportOptions } from '../../src/bench/report/index.js';
import type { BenchResults, LoadSection } from '../../src/bench/results.js';
import { hostileResults } from '../fixtures/bench/hostile.js';

// The report renders from saved results: every number in its tables is checked against the
// file it came from (by the field path each cell carries), the tables must cover the figures a
// reader looks for, and no string in a results file can break out of the page.
// (htmlparser2 comes with sanitize-html, a dependency.)

const FIXTURES = 'test/fixtures/bench';
const fixture = (name: string) => readResults(join(FIXTURES, `${name}.json`));
const KINDS = ['load', 'cache', 'concurrency', 'ratio'] as const;
/** In English whatever this machine's LANG: the checks below read English labels. */
const render = (results: BenchResults[], options: ReportOptions = {}) =>
  renderReport(results, { lang: 'en', ...options });

function parse(page: string) {
  const doc = parseDocument(page);
  const all = (selector: (el: Element) => boolean, root: Element[] | typeof doc = doc) =>
    DomUtils.findAll(selector, Array.isArray(root) ? root : root.children);
  return { doc, all };
}

/** The value at 'sections.0.levels.2.latency.p99' in a results object. */
function at(results: BenchResults, path: string): unknown {
  return path.split('.').reduce<unknown>((value, key) => (value as Record<string, unknown>)?.[key], results);
}

/** How many decimals a shown number has, so its rounding can be checked exactly. */
function shownNumber(text: string): { value: number; step: number } {
  const clean = text.replace(/[,%×\s]/g, '');
  const decimals = clean.includes('.') ? clean.split('.')[1]!.length : 0;
  return { value: Number(clean), step: 10 ** -decimals };
}

/** Every number cell of every table: its path and value in the file, and the text shown. */
function numberCells(page: string) {
  const { all } = parse(page);
  const tables = all((el) => el.name === 'table');
  return tables.flatMap((table) => {
    const run = Number(table.attribs['data-run']);
    const headers = all((el) => el.name === 'th', [table]).map((th) => DomUtils.textContent(th));
    return all((el) => el.name === 'tr', [table]).flatMap((tr) =>
      all((el) => el.name === 'td', [tr]).map((td, column) => ({
        run,
        column: headers[column] ?? '',
        path: td.attribs['data-path'],
        value: td.attribs['data-value'],
        unit: td.attribs['data-unit'],
        shown: DomUtils.textContent(all((el) => el.attribs['class'] === 'v', [td])[0]!),
        numericColumn: (td.attribs['class'] ?? '').split(' ').includes('num'),
      })),
    );
  });
}

function chartData(page: string): {
  lang: string;
  charts: Record<
    string,
    { type: string; x: number[]; series: { label: string; values: (number | null)[] }[] }
  >;
} {
  const match = /<script type="application\/json" id="report-data">(.*?)<\/script>/s.exec(page);
  return JSON.parse(match![1]!);
}

describe('the bench report', () => {
  for (const kind of KINDS) {
    it(`${kind}: every number in the tables is the number in the file, rounded for people`, () => {
      const results = fixture(kind);
      const page = render([results]);
      const cells = numberCells(page);
      const numbers = cells.filter((cell) => cell.path !== undefined);
      expect(numbers.length).toBeGreaterThan(10);
      for (const cell of numbers) {
        const inFile = at(results, cell.path!);
        expect(typeof inFile, cell.path).toBe('number');
        expect(Number(cell.value), cell.path).toBe(inFile);
        const shown = shownNumber(cell.shown);
        const expected = cell.unit === 'percent' ? (inFile as number) * 100 : (inFile as number);
        expect(Math.abs(shown.value - expected), `${cell.path}: ${cell.shown}`).toBeLessThanOrEqual(
          shown.step / 2 + 1e-9,
        );
        // The column says which figure it is: a p99 column holds p99s.
        const field = cell.path!.split('.').at(-1)!;
        if (/^p\d\d$/.test(field) && !cell.column.startsWith('p50 / '))
          expect(cell.column, cell.path).toContain(field);
      }
      // A number column never shows a figure that is not from the file.
      for (const cell of cells.filter((c) => c.numericColumn && c.path === undefined))
        expect(['—', ''], `${cell.column}: ${cell.shown}`).toContain(cell.shown);
    });
  }

  it('concurrency: the tables hold every endpoint at every level, and the charts draw those numbers', () => {
    const results = fixture('concurrency');
    const page = render([results]);
    const paths = new Set(numberCells(page).map((cell) => cell.path));
    const section = results.sections[0]!;
    if (section.kind !== 'concurrency') throw new Error('fixture is not a concurrency run');
    section.levels.forEach((level, li) =>
      level.endpoints.forEach((_, ei) => {
        const base = `sections.0.levels.${li}.endpoints.${ei}`;
        for (const field of [
          'throughput',
          'errorRate',
          'latency.mean',
          'latency.p50',
          'latency.p95',
          'latency.p99',
          'latency.min',
          'latency.max',
        ])
          expect(paths.has(`${base}.${field}`), `${base}.${field}`).toBe(true);
      }),
    );
    const { charts } = chartData(page);
    const lines = Object.values(charts);
    // Throughput, one latency chart per endpoint, error rate.
    expect(lines).toHaveLength(2 + section.levels[0]!.endpoints.length);
    const throughput = lines[0]!;
    expect(throughput.x).toEqual(section.levels.map((level) => level.level));
    expect(throughput.series.map((s) => s.label)).toEqual(
      section.levels[0]!.endpoints.map((e) => e.endpoint),
    );
    expect(throughput.series[1]!.values).toEqual(
      section.levels.map((level) => level.endpoints[1]!.throughput),
    );
    const p99 = lines[1]!.series.find((s) => s.label === 'p99')!;
    expect(p99.values).toEqual(section.levels.map((level) => level.endpoints[0]!.latency.p99));
    // The level that hit the error threshold is marked.
    expect(page).toMatch(/500<\/span> <span class="badge">stopped early<\/span>/);
  });

  it('load, cache and ratio: per-endpoint bars, the timeline, cold vs warm, AI timings, ratios', () => {
    const load = fixture('load');
    const loadSection = load.sections[0] as LoadSection;
    const loadCharts = Object.values(chartData(render([load])).charts);
    const latencyBars = loadCharts.find((c) => c.type === 'bars')!;
    expect(latencyBars.series.find((s) => s.label === 'p99')!.values).toEqual(
      loadSection.endpoints.map((e) => e.latency.p99),
    );
    const timeline = loadCharts.find((c) => c.type === 'line')!;
    expect(timeline.x).toEqual(loadSection.timeline.map((point) => point.t));
    expect(timeline.series[0]!.values).toEqual(loadSection.timeline.map((point) => point.requests));
    const ai = loadCharts.find((c) => c.series.some((s) => s.label === 'time to first token p50'))!;
    expect(ai.series[0]!.values).toEqual([loadSection.endpoints.find((e) => e.ttft)!.ttft!.p50]);

    const cache = fixture('cache');
    const cacheCharts = Object.values(chartData(render([cache])).charts);
    expect(cacheCharts[0]!.series.map((s) => s.label)).toEqual(['cold', 'warm']);
    const pages = cache.sections[0]!.kind === 'cache' ? cache.sections[0]!.pages : [];
    expect(cacheCharts[0]!.series[0]!.values).toEqual(pages.map((page) => page.cold.p50));
    expect(cacheCharts[0]!.series[1]!.values).toEqual(pages.map((page) => page.warm.p50));
    expect(render([cache])).toContain('front door'); // the metrics note

    const ratio = fixture('ratio');
    const rows = ratio.sections[0]!.kind === 'ratio' ? ratio.sections[0]!.rows : [];
    const ratioChart = Object.values(chartData(render([ratio])).charts)[0]!;
    expect(ratioChart.series[0]!.values).toEqual(
      rows.filter((row) => row.ratio !== null).map((row) => row.ratio),
    );
  });

  it("leaves out latency where nothing was measured, and shows the run's notes", () => {
    const results = structuredClone(fixture('load'));
    const section = results.sections[0] as LoadSection;
    section.endpoints[3]!.latency = { n: 0, min: 0, mean: 0, p50: 0, p90: 0, p95: 0, p99: 0, max: 0 };
    section.timeline[4] = { t: 5, requests: 0, errors: 0, p50: 0, p99: 0 };
    section.notes = ['create-post skipped: no author account.'];
    const page = render([results]);
    const paths = new Set(numberCells(page).map((cell) => cell.path));
    expect(paths.has('sections.0.endpoints.3.latency.p50')).toBe(false);
    expect(paths.has('sections.0.endpoints.3.requests')).toBe(true);
    expect(paths.has('sections.0.timeline.4.p99')).toBe(false);
    expect(paths.has('sections.0.timeline.4.requests')).toBe(true);
    const charts = Object.values(chartData(page).charts);
    expect(charts[0]!.series[0]!.values[3]).toBeNull();
    expect(
      charts.find((c) => c.series[0]!.label === 'p50' && c.type === 'line')!.series[0]!.values[4],
    ).toBeNull();
    expect(page).toContain('create-post skipped: no author account.');

    // A ratio row that timed only latency (AI time to first token) shows no throughput.
    const ratio = structuredClone(fixture('ratio'));
    if (ratio.sections[0]!.kind !== 'ratio') throw new Error('fixture is not a ratio run');
    ratio.sections[0]!.rows[2]!.throughput = 0;
    const ratioCells = numberCells(render([ratio]));
    expect(ratioCells.some((cell) => cell.path === 'sections.0.rows.2.throughput')).toBe(false);
    expect(ratioCells.some((cell) => cell.path === 'sections.0.rows.2.latency.p50')).toBe(true);

    const cache = structuredClone(fixture('cache'));
    if (cache.sections[0]!.kind !== 'cache') throw new Error('fixture is not a cache run');
    cache.sections[0]!.pages[0]!.coldMeaning = 'the first request after publishing a fresh post';
    cache.sections[0]!.notes = ['AI draft skipped (--no-ai).'];
    const cachePage = render([cache]);
    expect(cachePage).toContain('the first request after publishing a fresh post');
    expect(cachePage).toContain('AI draft skipped (--no-ai).');
  });

  it('is one file: uPlot inlined, data inlined, no URL to fetch', () => {
    const page = render(KINDS.map(fixture));
    expect(page).not.toMatch(/\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?\/\//i);
    expect(page).not.toMatch(/@import|url\(\s*["']?(?:https?:)?\/\//i);
    expect(page).toContain(readFileSync('node_modules/uplot/dist/uPlot.min.css', 'utf8').slice(0, 200));
    expect(page).toContain('uPlot');
    expect(page).toMatch(/Content-Security-Policy" content="default-src 'none'/);
  });

  it('several files: a tab per test of each run, named by file, with panels that point back to them', () => {
    const files = KINDS.map((kind) => join(FIXTURES, `${kind}.json`));
    const page = render(
      files.map((file) => readResults(file)),
      { sources: files },
    );
    const { all } = parse(page);
    const tabs = all((el) => el.attribs['role'] === 'tab');
    expect(tabs.map((tab) => DomUtils.textContent(tab))).toEqual([
      'load.json · Load',
      'cache.json · Cache',
      'concurrency.json · Concurrency',
      'ratio.json · Ratio: pages',
    ]);
    expect(tabs.map((tab) => tab.attribs['aria-selected'])).toEqual(['true', 'false', 'false', 'false']);
    for (const tab of tabs) {
      const panel = all((el) => el.attribs['id'] === tab.attribs['aria-controls']);
      expect(panel).toHaveLength(1);
      expect(panel[0]!.attribs['aria-labelledby']).toBe(tab.attribs['id']);
    }
    // Each run's summary: when, against what, on what machine.
    for (const kind of KINDS) {
      const results = fixture(kind);
      expect(page).toContain(results.command);
      expect(page).toContain(`${results.startedAt.slice(0, 10)} ${results.startedAt.slice(11, 19)} UTC`);
    }
    expect(page).toContain('Intel(R) Xeon(R) Platinum 8370C');
  });

  it('speaks Chinese with --lang zh, and tells the page it is Chinese', () => {
    const zh = render([fixture('concurrency')], { lang: 'zh' });
    expect(zh).toContain('<html lang="zh-CN">');
    expect(zh).toContain('吞吐量与并发数');
    expect(zh).toContain('提前停止');
    expect(zh).toMatch(/font-family: "PingFang SC".*"Noto Sans CJK SC".*"WenQuanYi Micro Hei"/);
    expect(chartData(zh).lang).toBe('zh');
    const en = render([fixture('concurrency')]);
    expect(en).toContain('<html lang="en">');
    expect(en).not.toContain('吞吐量');
  });

  it('takes the language from LC_ALL, LC_MESSAGES or LANG', () => {
    expect(langFromEnv({ LANG: 'zh_CN.UTF-8' })).toBe('zh');
    expect(langFromEnv({ LANG: 'zh_TW' })).toBe('zh');
    expect(langFromEnv({ LANG: 'en_US.UTF-8' })).toBe('en');
    expect(langFromEnv({ LC_ALL: 'C', LANG: 'zh_CN.UTF-8' })).toBe('en');
    expect(langFromEnv({ LC_MESSAGES: 'zh_CN.UTF-8', LANG: 'en_US.UTF-8' })).toBe('zh');
    expect(langFromEnv({})).toBe('en');
    // A run's own report.html (rendered with no lang) follows the user's locale.
    vi.stubEnv('LC_ALL', '');
    vi.stubEnv('LC_MESSAGES', '');
    vi.stubEnv('LANG', 'zh_CN.UTF-8');
    try {
      expect(renderReport([fixture('load')])).toContain('<html lang="zh-CN">');
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('escapes hostile strings: nothing in a results file becomes markup or script', () => {
    const hostile = hostileResults();
    const page = render([hostile], { sources: ['<b>x.json'] });
    // Exactly the report's own four scripts (two JSON, uPlot, the page's), and no injected tags.
    expect(page.match(/<script/gi)).toHaveLength(4);
    expect(page.match(/<\/script/gi)).toHaveLength(4);
    expect(page).not.toContain('<img');
    expect(page).not.toContain('<b>x');
    expect(page).not.toMatch(/href="javascript:/i);
    // The inlined results read back as exactly the strings that went in.
    const match = /<script type="application\/json" id="report-results">(.*?)<\/script>/s.exec(page);
    expect(JSON.parse(match![1]!)).toEqual([hostile]);
    expect(page).toContain('&lt;/script&gt;&lt;script&gt;window.__pwned=1&lt;/script&gt;');
  });
});

describe('inkstone bench report', () => {
  const run = promisify(execFile);
  const cli = (...args: string[]) =>
    run(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', 'bench', 'report', ...args], {
      env: { ...process.env, LANG: 'zh_CN.UTF-8', LC_ALL: '' },
    }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (error: { code: number; stdout: string; stderr: string }) => error,
    );

  it(
    'writes the report from files, in the language of LANG; a bad file exits 2 naming the field',
    { timeout: 60_000 },
    async () => {
      const folder = mkdtempSync(join(tmpdir(), 'inkstone-report-cli-'));
      try {
        const out = join(folder, 'out.html');
        const ok = await cli(join(FIXTURES, 'load.json'), join(FIXTURES, 'cache.json'), '--out', out);
        expect(ok.code).toBe(0);
        expect(ok.stdout).toContain(`Wrote ${out} (2 runs, 2 tests)`);
        const page = readFileSync(out, 'utf8');
        expect(page).toContain('<html lang="zh-CN">');
        expect(page).toContain('load.json · 负载');

        const results = JSON.parse(readFileSync(join(FIXTURES, 'cache.json'), 'utf8'));
        results.sections[0].pages[2].warm.p50 = 'fast';
        const bad = join(folder, 'bad.json');
        writeFileSync(bad, JSON.stringify(results));
        const failed = await cli(bad, '--out', join(folder, 'never.html'));
        expect(failed.code).toBe(2);
        expect(failed.stderr).toContain(`${bad}: sections[0].pages[2].warm.p50 must be a number, not "fast"`);
        expect(existsSync(join(folder, 'never.html'))).toBe(false);

        const lang = await cli(join(FIXTURES, 'load.json'), '--lang', 'fr', '--out', join(folder, 'fr.html'));
        expect(lang.code).toBe(2);
        expect(lang.stderr).toContain('--lang must be one of en, zh');
      } finally {
        rmSync(folder, { recursive: true, force: true });
      }
    },
  );
});
