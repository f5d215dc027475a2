import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it, vi } from 'vitest';
import { ratioResults, writeRatioRun } from '../../src/bench/ratio.js';
import { RESULTS_SCHEMA } from '../../src/bench/results.js';
import { loadAverage } from '../../src/bench/stats.js';
import { pagesSection } from '../../bench/pages/ratio.js';
import { formatReport } from '../../bench/pages/report.js';
import { type PagesBenchOptions, runPagesBench } from '../../bench/pages/run.js';
import { wrkProblem } from '../../bench/pages/wrk.js';

// `npm run bench:pages` end to end at a tiny size (1 s per target, SQLite only): the children
// start, wrk runs and its numbers are read, the bare server sends Inkstone's bytes. Not its
// timings: a shared test machine says nothing about them. wrk missing fails only under CI=true
// (.ci/run installs it).
const CI = process.env.CI === 'true';
const problem = wrkProblem();
/** A few seconds per target, no cluster: what the runs below check is not the numbers. */
const TINY = {
  connections: 5,
  clusterWorkers: 0,
  threads: 1,
  durationS: 1,
  warmupS: 1,
  timeoutS: 5,
  pin: false,
  postgresUrl: '',
};

describe('npm run bench:pages', () => {
  it.skipIf(problem !== null && !CI)(
    'measures every target against the bare server',
    { timeout: 180_000 },
    async () => {
      expect(problem).toBeNull();
      const lines: string[] = [];
      const result = await runPagesBench({
        databases: ['sqlite'],
        connections: 10,
        clusterWorkers: 2,
        threads: 1,
        durationS: 1,
        warmupS: 1,
        connectionBursts: 1,
        clusterSettleMs: 3000,
        timeoutS: 5,
        pin: false,
        postgresUrl: '',
        log: (line) => lines.push(line),
      });
      const [run] = result.runs;
      // A cluster idles until it is clusterSettleMs old before its first warm-up (the primary's
      // startup GCs); the single processes are measured as soon as they answer.
      const idle = lines.filter((x) => x.includes("(V8's startup GCs)"));
      expect(idle.map((x) => x.split(': started')[0])).toEqual([
        '  inkstone serve --workers 1',
        '  bare node:cluster × 2',
        '  inkstone serve --workers 2',
      ]);
      for (const line of idle)
        expect(line).toMatch(/: started in \d+\.\d s \(pid \d+\), idle until 3 s after/);
      expect(lines.indexOf(idle[0]!)).toBeLessThan(lines.findIndex((x) => x.startsWith('  home-cached-w1:')));
      // The connection bursts come once per server process, before its first target: the busy
      // bare server is a new process each time; the cached Inkstone serves three targets.
      const warmUp = (target: string) => lines.find((x) => x.startsWith(`  ${target}: warm-up`));
      for (const first of [
        'baseline',
        'lean-baseline',
        'home',
        'busy-baseline',
        'home-cached',
        'home-cached-w1',
        'bare-cluster',
      ])
        expect(warmUp(first), first).toContain('1 connection burst of 1 s, 1 s');
      for (const later of [
        'post',
        'api',
        'post-cached',
        'home-signed-in',
        'post-cached-w1',
        'post-cached-wauto',
      ])
        expect(warmUp(later), later).toMatch(/warm-up 1 s, then/);
      expect(warmUp('home-cached-wauto')).toContain('1 connection burst');
      expect(run?.baselineSameBytes).toBe(true);
      expect(run?.targets.map((x) => x.target)).toEqual([
        'baseline',
        'lean-baseline',
        'home',
        'busy-baseline',
        'post',
        'api',
        'home-cached',
        'post-cached',
        'home-signed-in',
        'home-cached-w1',
        'post-cached-w1',
        'bare-cluster',
        'home-cached-wauto',
        'post-cached-wauto',
      ]);
      for (const target of run?.targets ?? []) {
        expect(target.probe.status, target.target).toBe(200);
        expect(target.wrk.requests, target.target).toBeGreaterThan(0);
        const { connect, read, write, status } = target.wrk.errors;
        expect(connect + read + write + status, target.target).toBe(0);
        // An anonymous reader's pages and the API set no cookie.
        if (target.target !== 'home-signed-in') expect(target.probe.setCookie, target.target).toEqual([]);
      }
      // The baseline sends a page-cache hit's bytes: a cached home page is the same size on the
      // wire (its request id and date are as long), the uncached one a little larger (its
      // timing headers), the lean control smaller by the headers it leaves out.
      const size = (name: string) => run!.targets.find((x) => x.target === name)!.wrk.bytesPerResponse;
      expect(run?.baselineHeaders).toEqual(
        expect.arrayContaining(['etag', 'cache-control', 'x-page-cache', 'hit']),
      );
      expect(size('home-cached')).toBeCloseTo(size('baseline'), 0);
      expect(size('home') - size('baseline')).toBeGreaterThan(0);
      expect(size('home') - size('baseline')).toBeLessThan(100);
      expect(size('baseline') - size('lean-baseline')).toBeGreaterThan(200);
      expect(formatReport(result)).toContain('home-signed-in');
      // The signed-in home page is the author's own: larger than the anonymous one (their menu).
      expect(size('home-signed-in')).toBeGreaterThan(size('home'));

      // As results.json carries it (inkstone bench pages): a row per target, wrk's own figures.
      const section = pagesSection(result);
      expect(section.rows.map((x) => x.target)).toEqual(run!.targets.map((x) => x.target));
      for (const [i, row] of section.rows.entries()) {
        const target = run!.targets[i]!;
        expect(row.group).toBe('sqlite');
        expect(row.throughput).toBe(target.wrk.requestsPerSecond);
        expect(row.ratio).toBe(['baseline', 'bare-cluster'].includes(row.target) ? null : target.ratio);
        expect(row.latency.n).toBe(target.wrk.requests);
        const { min, p50, p90, p95, p99, max } = row.latency;
        expect([min, p50, p90, p95, p99, max]).toEqual([min, p50, p90, p95, p99, max].sort((a, b) => a - b));
        expect(min, row.target).toBeGreaterThan(0);
      }
      expect(section.rows.find((x) => x.target === 'home-cached')!.goal).toMatch(/0\.8× the bare server/);
      const dir = mkdtempSync(join(tmpdir(), 'inkstone-pages-results-'));
      try {
        const results = await ratioResults({
          section,
          startedAt: result.startedAt,
          loadAtStart: loadAverage(),
          command: 'test',
          url: 'local',
        });
        const written = await writeRatioRun(dir, results, { name: 'pages', value: result });
        expect(written).toContain(join(dir, 'results.json'));
        const saved = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as typeof results;
        expect(saved.schema).toBe(RESULTS_SCHEMA);
        expect(saved.sections).toEqual([section]);
        // Every figure, as JSON keeps it (a cluster's CPU, NaN, becomes null).
        expect(JSON.parse(readFileSync(join(dir, 'pages.json'), 'utf8'))).toEqual(
          JSON.parse(JSON.stringify(result)),
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});

describe('npm run bench:pages --rounds 2 --fresh', () => {
  it.skipIf(problem !== null && !CI)(
    'starts every server anew in each round, and stops each one after its round',
    { timeout: 120_000 },
    async () => {
      const result = await runPagesBench({
        databases: ['sqlite'],
        only: ['home-cached', 'post-cached'],
        rounds: 2,
        freshProcesses: true,
        ...TINY,
        log: () => {},
      });
      const targets = result.runs[0]!.targets;
      expect(targets.map((x) => x.target)).toEqual([
        ...['baseline', 'home-cached', 'post-cached'],
        ...['baseline', 'home-cached', 'post-cached'],
      ]);
      const pids = targets.map((x) => x.pid);
      for (const pid of pids) expect(pid).toEqual(expect.any(Number));
      // Within a round the cached Inkstone serves both of its targets; each round has its own
      // bare server and its own Inkstone.
      expect(pids[1]).toBe(pids[2]);
      expect(pids[4]).toBe(pids[5]);
      expect(new Set([pids[0], pids[1], pids[3], pids[4]]).size).toBe(4);
      // The first round's processes were stopped when it ended.
      for (const pid of [pids[0], pids[1]]) expect(() => process.kill(pid!, 0)).toThrow();
      expect(result.settings).toMatchObject({ rounds: 2, freshProcesses: true });
      expect(result.runs[0]!.medians?.map((x) => [x.target, x.rounds])).toEqual([
        ['baseline', 2],
        ['home-cached', 2],
        ['post-cached', 2],
      ]);
      expect(formatReport(result)).toContain('on new processes each round');
    },
  );
});

describe('npm run bench:pages --pairs 3', () => {
  it.skipIf(problem !== null && !CI)(
    'signs in and probes once per target and round, before its warm-up, not between its windows',
    { timeout: 120_000 },
    async () => {
      // The bench's own requests go through fetch; wrk's do not. A login or a probe between a
      // warmed server's windows made V8 recompile the request path during the next window.
      const calls: string[] = [];
      const fetch = globalThis.fetch;
      const spy = vi.spyOn(globalThis, 'fetch').mockImplementation((input, init) => {
        calls.push(`${init?.method ?? 'GET'} ${new URL(String(input)).pathname}`);
        return fetch(input, init);
      });
      try {
        const lines: string[] = [];
        const result = await runPagesBench({
          databases: ['sqlite'],
          only: ['home-signed-in'],
          pairs: 3,
          ...TINY,
          log: (line) => lines.push(line),
        });
        const targets = result.runs[0]!.targets;
        expect(targets.filter((x) => x.target === 'home-signed-in')).toHaveLength(3);
        expect(calls.filter((x) => x === 'POST /api/v1/auth/login')).toHaveLength(1);
        // After the login only the page it reads (for its CSRF cookie) and the probe: nothing
        // between the three windows (before the fix: a login, a page and a probe before each).
        const login = calls.indexOf('POST /api/v1/auth/login');
        expect(calls.slice(login + 1)).toEqual(['GET /', 'GET /']);
        for (const x of targets) expect(x.probe.status).toBe(200);
        expect(lines.filter((x) => x.startsWith('  home-signed-in: warm-up'))).toHaveLength(1);
      } finally {
        spy.mockRestore();
      }
    },
  );
});

/** A TINY run stopped as Ctrl-C would stop it, at the first progress line containing `when`. */
async function interruptedAt(when: string, options: Partial<PagesBenchOptions>) {
  const controller = new AbortController();
  let line: string | undefined;
  const result = await runPagesBench({
    databases: ['sqlite'],
    ...TINY,
    ...options,
    signal: controller.signal,
    log: (x) => {
      if (line !== undefined || !x.includes(when)) return;
      line = x;
      controller.abort();
    },
  });
  return { result, line };
}

describe('npm run bench:pages, interrupted', () => {
  it.skipIf(problem !== null && !CI)(
    'finishes the target under way, starts no other, and says so (Ctrl-C)',
    { timeout: 120_000 },
    async () => {
      // As Ctrl-C would, while the home page is being measured.
      const { result } = await interruptedAt('home: warm-up', { databases: ['sqlite', 'postgres'] });
      expect(result.interrupted).toBe(true);
      expect(result.runs.map((x) => x.database)).toEqual(['sqlite']);
      expect(result.runs[0]!.targets.map((x) => x.target)).toEqual(['baseline', 'lean-baseline', 'home']);
      expect(result.runs[0]!.targets[2]!.wrk.requests).toBeGreaterThan(0);
      expect(pagesSection(result).notes[0]).toMatch(/^Interrupted \(Ctrl-C\)/);
      expect(formatReport(result)).toContain('Interrupted (Ctrl-C)');
    },
  );
});

describe('npm run bench:pages, interrupted while a cluster settles', () => {
  it.skipIf(problem !== null && !CI)(
    'stops waiting at once and stops the cluster it started',
    { timeout: 120_000 },
    async () => {
      const started = performance.now();
      const { result, line: settling } = await interruptedAt("(V8's startup GCs)", {
        databases: ['sqlite'],
        clusterWorkers: 1,
        clusterSettleMs: 600_000,
        only: ['home-cached-w1'],
      });
      expect(settling).toMatch(/inkstone serve --workers 1: started in .* idle until 600 s after/);
      // The cluster's primary was stopped with the run, not left behind.
      const pid = Number(/\(pid (\d+)\)/.exec(settling!)?.[1]);
      expect(pid).toBeGreaterThan(0);
      expect(() => process.kill(pid, 0)).toThrow(/ESRCH/);
      expect(performance.now() - started).toBeLessThan(90_000);
      expect(result.interrupted).toBe(true);
      expect(result.runs[0]!.targets.map((x) => x.target)).toEqual(['baseline']);
      expect(result.settings.clusterSettleMs).toBe(600_000);
    },
  );
});

describe('inkstone bench pages', () => {
  it(
    'runs bench/pages.ts from the source checkout: --help, and a bad option exits 2',
    { timeout: 60_000 },
    async () => {
      const run = promisify(execFile);
      const cli = ['--import', 'tsx', 'src/cli/index.ts', 'bench', 'pages'];
      const help = await run(process.execPath, [...cli, '--help']);
      expect(help.stdout).toContain('Usage: inkstone bench pages');
      expect(help.stdout).toContain('--out DIR');
      const bad = await run(process.execPath, [...cli, '--duration', 'soon']).catch(
        (error: unknown) => error,
      );
      expect(bad).toMatchObject({
        code: 2,
        stderr: expect.stringContaining('--duration must be a number > 0 (got "soon")'),
      });
      const rounds = await run(process.execPath, [...cli, '--rounds', '1.5']).catch(
        (error: unknown) => error,
      );
      expect(rounds).toMatchObject({
        code: 2,
        stderr: expect.stringContaining('--rounds must be a whole number ≥ 1 (got "1.5")'),
      });
    },
  );
});
