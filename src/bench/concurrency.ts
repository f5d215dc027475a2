// `inkstone bench concurrency`: a ladder of concurrency levels. At each level, each endpoint
// in turn gets `level` connections sending back to back (no think time) for a fixed time;
// an endpoint whose error rate passes the threshold stops early, is marked, and is not run at
// the higher levels (they would only fail faster).
import type { BenchCommand } from './cli.js';
import { Recorder, runWorkers } from './engine.js';
import {
  parseBaseUrl,
  parseDuration,
  parseFlags,
  parseFraction,
  parseLevels,
  commandLine,
  FlagError,
  runParsed,
} from './flags.js';
import { HttpClient } from './http.js';
import { onInterrupt, startProgress } from './progress.js';
import type { ConcurrencySection, EndpointResult } from './results.js';
import { publishedPosts } from './site.js';
import { loadAverage, round } from './stats.js';
import { endpointTable } from './table.js';
import { finishRun } from './write.js';

const HELP = `Usage: inkstone bench concurrency --url URL [options]

For each concurrency level and endpoint: avg, median, p95, p99, min, max latency, throughput
and error rate. A level whose error rate passes the threshold stops early and is marked.

  --url URL                 the server to test (required; any HTTP server with --paths)
  --levels L                concurrent connections per step (default 1,5,10,20,50,100,200,500)
  --duration-per-level D    time per endpoint and level (default 5s)
  --error-threshold F       stop a level past this error rate (default 0.05 = 5%)
  --endpoints LIST          of home, post, api-posts, search (default all four)
  --paths LIST              instead, these paths (comma-separated, e.g. /,/about)
  --timeout D               per-request limit (default 10s)
  --out DIR                 where results.json goes (default bench-results/<time>/)

Requests still in flight when a step's time is up are dropped, not counted.`;

const DEFAULT_LEVELS = [1, 5, 10, 20, 50, 100, 200, 500];
const KNOWN = ['home', 'post', 'api-posts', 'search'] as const;

interface Target {
  endpoint: string;
  label: string;
  path: string;
}

interface ConcurrencyOptions {
  url: URL;
  levels: number[];
  durationMs: number;
  errorThreshold: number;
  endpoints: string[];
  paths?: string[];
  timeoutMs: number;
  out?: string;
}

function options(args: string[]): ConcurrencyOptions | 'help' {
  const { values, switches } = parseFlags(args, {
    values: [
      'url',
      'levels',
      'duration-per-level',
      'error-threshold',
      'endpoints',
      'paths',
      'timeout',
      'out',
    ],
    switches: ['help'],
  });
  if (switches.has('help')) return 'help';
  const get = (name: string) => values.get(name);
  const endpoints = (get('endpoints') ?? KNOWN.join(',')).split(',').map((x) => x.trim());
  for (const name of endpoints)
    if (!(KNOWN as readonly string[]).includes(name))
      throw new FlagError(
        `--endpoints: "${name}" is not one of ${KNOWN.join(', ')} (use --paths for others).`,
      );
  const paths = get('paths')
    ?.split(',')
    .map((x) => x.trim());
  for (const path of paths ?? [])
    if (!path.startsWith('/')) throw new FlagError(`--paths: "${path}" must start with /.`);
  return {
    url: parseBaseUrl(get('url')),
    levels: get('levels') ? parseLevels(get('levels')!, 'levels') : DEFAULT_LEVELS,
    durationMs: parseDuration(get('duration-per-level') ?? '5s', 'duration-per-level'),
    errorThreshold: parseFraction(get('error-threshold') ?? '0.05', 'error-threshold'),
    endpoints,
    ...(paths ? { paths } : {}),
    timeoutMs: parseDuration(get('timeout') ?? '10s', 'timeout'),
    ...(get('out') ? { out: get('out')! } : {}),
  };
}

function run(args: string[]): Promise<number> {
  return runParsed(args, HELP, options, (opts) => runConcurrency(opts, commandLine('concurrency', args)));
}

async function targets(client: HttpClient, opts: ConcurrencyOptions, notes: string[]): Promise<Target[]> {
  if (opts.paths) return opts.paths.map((path) => ({ endpoint: path, label: `GET ${path}`, path }));
  const list: Target[] = [];
  for (const name of opts.endpoints) {
    if (name === 'home') list.push({ endpoint: 'home', label: 'GET /', path: '/' });
    if (name === 'api-posts')
      list.push({ endpoint: 'api-posts', label: 'GET /api/v1/posts', path: '/api/v1/posts' });
    if (name === 'search')
      list.push({ endpoint: 'search', label: 'GET /search?q=', path: '/search?q=inkstone' });
    if (name === 'post') {
      const [post] = await publishedPosts(client, 1);
      if (post) list.push({ endpoint: 'post', label: 'GET /posts/:slug', path: post.url });
      else notes.push('post skipped: the site has no published post.');
    }
  }
  return list;
}

export async function runConcurrency(opts: ConcurrencyOptions, asRun: string): Promise<number> {
  const startedAt = new Date();
  const loadAtStart = loadAverage();
  const interrupt = new AbortController();
  const sigint = onInterrupt(interrupt);
  const top = opts.levels.at(-1) ?? 1;
  const client = new HttpClient({
    base: opts.url,
    timeoutMs: opts.timeoutMs,
    connections: top,
    stop: interrupt.signal,
  });
  const notes: string[] = [];
  const levels: ConcurrencySection['levels'] = [];
  const totals = { requests: 0, errors: 0 };
  // Endpoints that stopped early, and the level they stopped at: not run higher up.
  const stoppedAt = new Map<string, number>();

  try {
    const list = await targets(client, opts, notes);
    for (const note of notes) console.error(note);
    const progress = startProgress(() => totals);
    for (const level of opts.levels) {
      if (interrupt.signal.aborted) break;
      const endpoints: EndpointResult[] = [];
      let stoppedEarly = false;
      let elapsedMs = 0;
      for (const target of list) {
        if (interrupt.signal.aborted || stoppedAt.has(target.endpoint)) continue;
        progress.phase(`level ${level} · ${target.endpoint}`);
        const step = await runStep(client, target, level, opts, interrupt.signal, totals);
        elapsedMs += step.elapsedMs;
        endpoints.push(step.result);
        if (step.stoppedEarly) {
          stoppedEarly = true;
          stoppedAt.set(target.endpoint, level);
          notes.push(
            `${target.endpoint} stopped early at level ${level} after ${(step.elapsedMs / 1000).toFixed(1)}s: ` +
              `error rate ${(step.result.errorRate * 100).toFixed(1)}% > ${(opts.errorThreshold * 100).toFixed(1)}%; not run at higher levels.`,
          );
        }
      }
      if (endpoints.length)
        levels.push({ level, stoppedEarly, elapsedS: round(elapsedMs / 1000), endpoints });
    }
    progress.stop();

    const interrupted = sigint.interrupted();
    const section: ConcurrencySection = {
      kind: 'concurrency',
      settings: {
        levels: opts.levels,
        durationPerLevelS: opts.durationMs / 1000,
        errorThreshold: opts.errorThreshold,
      },
      interrupted,
      levels,
      notes,
    };
    for (const level of levels) {
      console.log(`\nlevel ${level.level}${level.stoppedEarly ? ' (stopped early)' : ''}`);
      console.log(endpointTable(level.endpoints));
    }
    for (const note of notes) console.log(note);
    return finishRun({ startedAt, url: opts.url, command: asRun, loadAtStart, section, out: opts.out });
  } finally {
    sigint.dispose();
    await client.close();
  }
}

/** One endpoint at one level: `level` workers back to back until time is up or errors pass the threshold. */
async function runStep(
  client: HttpClient,
  target: Target,
  level: number,
  opts: ConcurrencyOptions,
  interrupt: AbortSignal,
  totals: { requests: number; errors: number },
): Promise<{ result: EndpointResult; elapsedMs: number; stoppedEarly: boolean }> {
  const stop = new AbortController();
  const signal = AbortSignal.any([interrupt, stop.signal]);
  const recorder = new Recorder(opts.durationMs / 1000);
  recorder.endpoint(target.endpoint, target.label);
  let stoppedEarly = false;
  // Enough requests that one unlucky error does not stop a level: at least 20, and one per worker.
  const minimum = Math.max(20, level);
  const deadline = setTimeout(() => {
    recorder.close();
    stop.abort();
  }, opts.durationMs);
  const started = performance.now();
  await runWorkers(level, signal, async () => {
    const outcome = await client.request({ path: target.path }, signal);
    if (outcome.aborted) return;
    recorder.record(target.endpoint, outcome);
    totals.requests++;
    if (!outcome.ok) totals.errors++;
    if (
      !stoppedEarly &&
      recorder.requests >= minimum &&
      recorder.errorRate(target.endpoint) > opts.errorThreshold
    ) {
      stoppedEarly = true;
      stop.abort();
    }
  });
  clearTimeout(deadline);
  const elapsedMs = Math.min(performance.now() - started, opts.durationMs);
  return { result: recorder.results(elapsedMs / 1000)[0]!, elapsedMs, stoppedEarly };
}

export const command: BenchCommand = {
  summary: 'a ladder of concurrency levels per endpoint, stopping a level past an error threshold',
  run,
};
