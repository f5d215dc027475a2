// npm run bench:pages [-- --quick] [--profile] [--no-pin] [--sqlite-only | --databases LIST] [--baseline-each] [--pairs N] [--rounds N [--fresh]] [--duration S]
//                      [--connections N] [--workers N|auto|0] [--out DIR]
// (also `inkstone bench pages …`, which runs this file from the source checkout)
//
// Pages under load: wrk (Debian's) with 100 connections against a bare node:http server
// sending the home page's bytes (the limit), then Inkstone's home page, a post page and
// GET /api/v1/posts uncached, the home and post pages from the page cache, and the home page
// signed in; on SQLite alone and on PostgreSQL (DATABASE_URL=postgres://… or the test
// default, a schema of the run's own; skipped with the reason when unreachable) + Redis. Prints a
// table (progress goes to stderr) and writes results.json (the inkstone-bench/1 schema),
// report.html and pages.json (every figure) to --out DIR (default bench/results/pages-<date>/).
import { join } from 'node:path';
import { defaultOutDir, ratioResults, writeRatioRun } from '../src/bench/ratio.js';
import { onInterrupt } from '../src/bench/progress.js';
import { loadAverage } from '../src/bench/stats.js';
import { connectRedis, createRedisClient } from '../src/plugins/redis.js';
import { parseWorkers } from '../src/cluster.js';
import { ROOT } from './ai/children.js';
import { count, parseBenchArgs, positive, usageError } from './args.js';
import { parseDatabases } from './pages/database.js';
import { pagesSection } from './pages/ratio.js';
import { formatReport } from './pages/report.js';
import { type PagesBenchOptions, runPagesBench } from './pages/run.js';
import { wrkProblem } from './pages/wrk.js';

const USAGE = `Usage: inkstone bench pages [options]   (or: npm run bench:pages -- [options])

Inkstone's pages under wrk against a bare node:http server sending the same bytes, started in
the same run: ratios to it, not absolute times. Runs from a source checkout; needs wrk.

  --quick              3 s per target instead of 10
  --duration S         seconds per target
  --connections N      wrk's connections (default 100)
  --workers N|auto|0   the cluster targets' workers (default auto: one per core; 0: none)
  --sqlite-only        leave out the PostgreSQL + Redis run (--databases sqlite)
  --databases LIST     the databases to run, in this order (default sqlite,postgres)
  --no-pin             do not pin wrk and the server to separate CPUs
  --baseline-each      measure the bare server again right before every target, and take each
                       ratio against that one (on a machine whose speed drifts within minutes)
  --pairs N            measure each target N times in a row, each time right after the bare
                       server it is compared with, for --duration each; the goals are judged on
                       the medians (odd N: a middle measurement, not the lower of two)
  --rounds N           measure every target N times, in turn, on the same servers; the goals
                       are judged on each target's medians (default 1)
  --fresh              with --rounds: new server processes in each round, so that the medians
                       sample processes too (fresh ones of one build differed by up to 24 %)
  --profile            Inkstone under the V8 CPU profiler, a summary per target
  --out DIR            results.json, report.html and pages.json (default bench/results/pages-<date>/)`;

const values = parseBenchArgs(USAGE, {
  quick: { type: 'boolean', default: false },
  profile: { type: 'boolean', default: false },
  'no-pin': { type: 'boolean', default: false },
  'sqlite-only': { type: 'boolean', default: false },
  databases: { type: 'string' },
  'baseline-each': { type: 'boolean', default: false },
  pairs: { type: 'string', default: '1' },
  rounds: { type: 'string', default: '1' },
  fresh: { type: 'boolean', default: false },
  duration: { type: 'string' },
  connections: { type: 'string', default: '100' },
  // The cluster targets' worker count (auto: one per core); 0 leaves them out.
  workers: { type: 'string', default: 'auto' },
  out: { type: 'string' },
});

/** The URL when Redis answers; otherwise undefined, said on stderr (the PostgreSQL run goes without). */
async function reachableRedis(url: string): Promise<string | undefined> {
  const client = createRedisClient(url);
  try {
    await connectRedis(client, url, 2000);
    return url;
  } catch (error) {
    console.error(`Redis unreachable (${(error as Error).message}): the PostgreSQL run goes without it`);
    return undefined;
  } finally {
    client.disconnect();
  }
}

if (values['sqlite-only'] && values.databases !== undefined)
  usageError(USAGE, '--sqlite-only and --databases: one or the other');
const databases = parseDatabases(values['sqlite-only'] ? 'sqlite' : (values.databases ?? 'sqlite,postgres'));
if (typeof databases === 'string') usageError(USAGE, databases);
if (values.fresh && values.profile)
  usageError(USAGE, '--fresh and --profile: one or the other (one profile per process)');

const problem = wrkProblem();
if (problem) {
  console.error(`SKIPPED the page benchmark: ${problem}`);
  process.exit(0);
}

const loadAtStart = loadAverage();
const results = join(ROOT, 'bench', 'results');
const durationS = values.duration ? positive(USAGE, '--duration', values.duration) : values.quick ? 3 : 10;
const options: PagesBenchOptions = {
  databases,
  connections: positive(USAGE, '--connections', values.connections),
  clusterWorkers: values.workers === '0' ? 0 : parseWorkers(values.workers),
  threads: 1,
  durationS,
  warmupS: values.quick ? 1 : 3,
  connectionBursts: values.quick ? 2 : 8,
  timeoutS: 2,
  pin: !values['no-pin'],
  baselineBeforeEach: values['baseline-each'],
  pairs: count(USAGE, '--pairs', values.pairs),
  rounds: count(USAGE, '--rounds', values.rounds),
  freshProcesses: values.fresh,
  postgresUrl: process.env.DATABASE_URL?.startsWith('postgres')
    ? process.env.DATABASE_URL
    : 'postgres://postgres@127.0.0.1:5432/test',
  redisUrl: await reachableRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'),
  ...(values.profile ? { profileDir: join(results, 'profiles') } : {}),
  log: (line) => console.error(line),
};

// Ctrl-C: the target under way finishes (wrk, which gets it too, stops early and reports), no
// other starts, and what was measured is written; a second Ctrl-C quits at once.
const controller = new AbortController();
const interrupt = onInterrupt(controller);
const result = await runPagesBench({ ...options, signal: controller.signal });
interrupt.dispose();
console.log(formatReport(result));
const dir =
  values.out ?? defaultOutDir(values.profile ? 'pages-profile' : 'pages', new Date(result.startedAt));
const benchResults = await ratioResults({
  section: pagesSection(result),
  startedAt: result.startedAt,
  loadAtStart,
  command: `inkstone bench pages ${process.argv.slice(2).join(' ')}`.trim(),
  url: 'local: Inkstone and a bare node:http server started by the bench',
});
const written = await writeRatioRun(dir, benchResults, { name: 'pages', value: result });
console.log(`\nWritten: ${written.join(', ')}`);
if (result.interrupted) process.exitCode = 130;
