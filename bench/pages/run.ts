// One run of the page benchmark, per database: seed it, start Inkstone (NODE_ENV=production)
// and a bare node:http server sending the bytes of a page-cache hit on the home page, each
// pinned to CPU 1 with wrk on CPU 0, then wrk against the bare server (the limit), the home
// page, a post page and GET /api/v1/posts, each after a warm-up. Every number is reported against the bare server
// measured in the same run, on the same CPU, minutes apart at most.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { EnvSchema, variablesOf } from '../../src/config-schema.js';
import { canPin, forkChild, forkInkstone, pinSelf } from '../ai/children.js';
import { BENCH_PASSWORD, type InkstoneCommand, type LoopDelay } from '../ai/ipc.js';
import { type ProfileSummary, summarizeProfile } from '../ai/profile.js';
import { type LoadAverage, loadAverage, median, round } from '../../src/bench/stats.js';
import { mapProfile, SOURCE_MAPS_FILE } from '../profile/source-maps.js';
import { hitBytes, rawGet, sameBytes, writePageBytes } from './bare-bytes.js';
import { type DatabaseKind, prepareDatabase } from './database.js';
import { type Server, spawnServer } from './servers.js';
import { runWrk, type WrkOptions, type WrkResult } from './wrk.js';

export interface PagesBenchOptions {
  databases: DatabaseKind[];
  connections: number;
  threads: number;
  durationS: number;
  warmupS: number;
  /**
   * Before the first target on each server process (in each round), this many 1 s wrk runs,
   * each opening its connections anew (default none): they warm the path that accepts and
   * sets up a connection, which a new process has barely run and which, with Node accepting
   * one connection per turn (see OPEN_MS in ./wrk.ts), set a fresh process's p99 for several
   * runs (README, pages). Every server alike, the bare ones too.
   */
  connectionBursts?: number;
  timeoutS: number;
  /** Pin wrk to CPU 0 and the server under test to CPU 1 (taskset), when there are two. */
  pin: boolean;
  postgresUrl: string;
  /**
   * Also `inkstone serve --workers 1` and `--workers N` (N: this, e.g. the core count) from the
   * page cache, and a bare node:cluster of N as the limit for the latter; 0: not measured.
   */
  clusterWorkers: number;
  /** A cluster is measured no sooner than this after its start (default CLUSTER_SETTLE_MS). */
  clusterSettleMs?: number;
  /** Redis for the PostgreSQL run's Inkstones (L2 and bus, as a deployment of several would); absent: none. */
  redisUrl?: string;
  /** Inkstone under --cpu-prof; the profiles go here and a summary per target into the result. */
  profileDir?: string;
  /**
   * Only these targets, in the usual order (the CI gate measures a few); default: every one.
   * The baseline is always measured, first: every ratio is against it.
   */
  only?: TargetName[];
  /**
   * Measure the targets this many times over, in turn, on the same servers (the gate's rounds;
   * default 1). Each round measures the baseline again, and its ratios are against that one.
   */
  rounds?: number;
  /** Aborted (Ctrl-C): the target under way finishes, no other starts, and the result says so. */
  signal?: AbortSignal;
  /**
   * Measure the baseline again right before each target, so that each ratio is against a
   * baseline seconds old (the gate, on a machine where other work comes and goes).
   */
  baselineBeforeEach?: boolean;
  /**
   * Measure each target this many times in a row, each time right after the bare server it is
   * compared with (the single one, or the bare cluster for the `auto` targets), and judge it on
   * the medians (default 1). The machine's speed swings within seconds (the same build's CPU
   * per request 36–68 µs between 2 s bursts in one quiet minute): short pairs side by side
   * compare two servers under the same conditions where one long window each does not.
   */
  pairs?: number;
  /**
   * Every server a new process in each round (with `rounds` > 1): the medians then sample
   * processes as well as moments. Fresh processes of one build, warmed alike, differed by up
   * to 24 % in CPU per request in one trial (README, pages); on one process per target, a row near its goal
   * passes or misses with the process it got. Not with `profileDir` (one profile per process).
   */
  freshProcesses?: boolean;
  log: (line: string) => void;
}

/**
 * `lean-baseline`: a bare server sending the same body with only its content type and length
 * (the limit of the samples up to 2026-12-06g): its ratio is what the page's other headers
 * cost a server that does nothing else.
 * `busy-baseline`: the bare server burning the home page's measured CPU per request. Its tail
 * next to the home page's says whether a long p99 comes from Inkstone's code or from any
 * saturated single-threaded server on this machine.
 */
export type TargetName =
  | 'baseline'
  | 'lean-baseline'
  | 'home'
  | 'busy-baseline'
  | 'post'
  | 'api'
  | 'home-cached'
  | 'post-cached'
  | 'home-signed-in'
  | 'home-cached-w1'
  | 'post-cached-w1'
  | 'bare-cluster'
  | 'home-cached-wauto'
  | 'post-cached-wauto';

/**
 * The targets, per kind of target: cached anonymous pages ≥ 0.8× the bare server
 * with p99 ≤ 1.5× its p99; signed-in pages and the API ≥ 0.25×; uncached pages without a
 * long tail (p99 ≤ 3 × p50); no errors or timeouts anywhere.
 */
export const GOALS: Partial<
  Record<TargetName, { ratio?: number; p99OverBare?: number; p99OverP50?: number }>
> = {
  home: { p99OverP50: 3 },
  post: { p99OverP50: 3 },
  api: { ratio: 0.25, p99OverP50: 3 },
  'home-signed-in': { ratio: 0.25, p99OverP50: 3 },
  'home-cached': { ratio: 0.8, p99OverBare: 1.5 },
  'post-cached': { ratio: 0.8, p99OverBare: 1.5 },
  'home-cached-w1': { ratio: 0.8, p99OverBare: 1.5 },
  'post-cached-w1': { ratio: 0.8, p99OverBare: 1.5 },
  // Against the bare cluster with as many workers.
  'home-cached-wauto': { ratio: 0.8, p99OverBare: 1.5 },
  'post-cached-wauto': { ratio: 0.8, p99OverBare: 1.5 },
};

export interface TargetResult {
  target: TargetName;
  path: string;
  wrk: WrkResult;
  /** req/s over the bare server's req/s in the same database's run. */
  ratio: number;
  p99OverP50: number;
  /** p99 over the bare server's p99 (the one `ratio` is against). */
  p99OverBare: number;
  /** The server's process id (a cluster's primary): which measurements one process made. */
  pid?: number;
  /** Inkstone's CPU time per request, ms (process.cpuUsage over the window). */
  cpuMsPerRequest: number;
  /** Inkstone's event-loop delay over the window: a long tail with a short one here is not the loop. */
  loopDelayMs?: LoopDelay;
  /** What a first anonymous GET got: its status and whether it set a cookie. */
  probe: { status: number; setCookie: string[] };
  /** No errors or timeouts, and the target's GOALS (the bare servers: errors only). */
  pass: boolean;
  /** The goals missed, in words (empty when it passed). */
  missed: string[];
}

/** A target measured several times: the median of each figure, and the verdict on those. */
export interface TargetMedians {
  target: TargetName;
  /** How many measurements the medians are of (rounds, times pairs). */
  rounds: number;
  ratio: number;
  p99OverP50: number;
  p99OverBare: number;
  /** The goals the medians miss, and any round with errors or a failed first GET. */
  missed: string[];
  pass: boolean;
}

export interface DatabaseRun {
  database: DatabaseKind;
  /** With rounds: one entry per target, from its measurements in `targets`. */
  medians?: TargetMedians[];
  skipped?: string;
  /**
   * The bare server answered with exactly the bytes of Inkstone's page-cache hit on its home
   * page: the same headers in the same order, the same body (Node's own `Date` and
   * `Connection` headers aside, which both send).
   */
  baselineSameBytes?: boolean;
  homeBytes?: number;
  /** The headers the bare server sent (flat name, value list): the hit's. */
  baselineHeaders?: string[];
  targets: TargetResult[];
  profile?: Partial<Record<TargetName, ProfileSummary>>;
}

export interface PagesBenchResult {
  bench: 'pages';
  startedAt: string;
  finishedAt: string;
  generator: string;
  machine: { node: string; cpus: number; cpuModel: string; platform: string };
  layout: { pinned: boolean; note: string };
  loadAverage: { start: LoadAverage; end: LoadAverage };
  settings: Omit<
    PagesBenchOptions,
    'log' | 'profileDir' | 'postgresUrl' | 'only' | 'baselineBeforeEach' | 'signal'
  >;
  runs: DatabaseRun[];
  /** Stopped early (Ctrl-C): the targets after the last one listed were not measured. */
  interrupted: boolean;
  pass: boolean;
}

/** Inkstone's environment as `inkstone serve` in production would have it, nothing inherited. */
export function inkstoneEnv(databaseUrl: string, pageCacheSeconds = 0, redisUrl?: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [variable] of variablesOf(EnvSchema)) delete env[variable];
  return {
    ...env,
    NODE_ENV: 'production',
    SESSION_SECRET: randomBytes(32).toString('hex'),
    // Request logs would go to this terminal; their cost is pino's, not the page's.
    LOG_LEVEL: 'silent',
    DATABASE_URL: databaseUrl,
    // The uncached targets measure the render; the `-cached` ones a second Inkstone with it on.
    PAGE_CACHE_TTL_SECONDS: String(pageCacheSeconds),
    ...(redisUrl
      ? { REDIS_URL: redisUrl, REDIS_PREFIX: `inkstone-bench:${randomBytes(4).toString('hex')}:` }
      : {}),
  };
}

/** What fails a measurement whatever its goals: errors or timeouts, a first GET other than 200. */
function failures(target: TargetName, firstStatus: number, result: WrkResult): string[] {
  const failed: string[] = [];
  if (firstStatus !== 200) failed.push(`first GET answered ${firstStatus}`);
  const errors = Object.values(result.errors).reduce((a, b) => a + b, 0);
  // The busy bare server is a control: its timeouts are the finding, not a failure.
  if (target === 'busy-baseline' ? errors !== result.errors.timeout : errors !== 0)
    failed.push(`${errors} errors or timeouts`);
  return failed;
}

/**
 * The order in which one round measures the targets, the first being the baseline: each once
 * (default), each right after the baseline (`baselineBeforeEach`), or each `pairs` times, right
 * after the bare server its ratio is against each time (the busy bare server, a control and a
 * new process per measurement, once).
 */
export function measurementOrder<T extends { target: TargetName; against?: 'bare-cluster' }>(
  chosen: readonly T[],
  options: { baselineBeforeEach?: boolean; pairs?: number },
): T[] {
  const [baseline, ...others] = chosen;
  if (baseline === undefined) return [];
  const pairs = options.pairs ?? 1;
  if (pairs > 1) {
    const bareCluster = others.find((x) => x.target === 'bare-cluster');
    return others.flatMap((x) => {
      const partner = x.against === 'bare-cluster' ? (bareCluster ?? baseline) : baseline;
      const times = x.target === 'busy-baseline' || x.target === 'lean-baseline' ? 1 : pairs;
      return Array.from({ length: times }, () => [partner, x]).flat();
    });
  }
  return options.baselineBeforeEach ? others.flatMap((x) => [baseline, x]) : [...chosen];
}

/**
 * Each target's measurements (its rounds, or its pairs) summed up: on a machine whose speed
 * swings within minutes (the bare server 19,000 to 48,000 req/s in one run), one unlucky 8 s
 * window fails a single round; the goals are judged on the medians, and any measurement with
 * errors fails the target whatever they say.
 */
export function mediansOf(targets: TargetResult[]): TargetMedians[] {
  const byTarget = new Map<TargetName, TargetResult[]>();
  for (const x of targets) byTarget.set(x.target, [...(byTarget.get(x.target) ?? []), x]);
  return [...byTarget].map(([target, rounds]) => {
    // A tail: more is worse, so of an even count the upper middle one (see median).
    const tail = (figure: (x: TargetResult) => number) => median(rounds.map(figure), 'upper');
    const overP50 = tail((x) => x.p99OverP50);
    const overBare = tail((x) => x.p99OverBare);
    const medians = {
      ratio: round(median(rounds.map((x) => x.ratio)), 3),
      p99OverP50: round(overP50, 2),
      p99OverBare: round(overBare, 3),
    };
    const missed = missedGoals(target, medians);
    const failed = rounds.filter((x) => failures(target, x.probe.status, x.wrk).length > 0).length;
    if (failed > 0)
      missed.push(`errors, timeouts or a failed first GET in ${failed} of ${rounds.length} measurements`);
    return { target, rounds: rounds.length, ...medians, missed, pass: missed.length === 0 };
  });
}

type GoalFigures = { ratio: number; p99OverP50: number; p99OverBare: number };

/** Which of the target's goals these figures miss (a goal it has not: never missed). */
export function goalMisses(target: TargetName, measured: GoalFigures): Record<keyof GoalFigures, boolean> {
  const goal = GOALS[target];
  return {
    ratio: goal?.ratio !== undefined && !(measured.ratio >= goal.ratio),
    p99OverP50: goal?.p99OverP50 !== undefined && !(measured.p99OverP50 <= goal.p99OverP50),
    p99OverBare: goal?.p99OverBare !== undefined && !(measured.p99OverBare <= goal.p99OverBare),
  };
}

function missedGoals(target: TargetName, measured: GoalFigures): string[] {
  const goal = GOALS[target];
  const misses = goalMisses(target, measured);
  const missed: string[] = [];
  if (misses.ratio) missed.push(`${measured.ratio}× the bare server, goal ≥ ${goal?.ratio}×`);
  if (misses.p99OverP50) missed.push(`p99 ${measured.p99OverP50}× p50, goal ≤ ${goal?.p99OverP50}×`);
  if (misses.p99OverBare)
    missed.push(`p99 ${round(measured.p99OverBare, 2)}× the bare p99, goal ≤ ${goal?.p99OverBare}×`);
  return missed;
}

/**
 * The cookies of the bench's author, signed in as a browser would (the JSON login): the session,
 * and the CSRF cookie the first signed-in page sets (its logout form carries the token), which a
 * browser then sends with every page. Without it each request would be a first visit that mints
 * and signs a new token.
 */
export async function signIn(base: string): Promise<string> {
  const response = await fetch(`${base}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: base },
    body: JSON.stringify({ login: 'bench', password: BENCH_PASSWORD }),
  });
  const session = response.headers.getSetCookie().find((x) => x.startsWith('inkstone_session='));
  if (response.status !== 200 || !session) throw new Error(`signing in answered ${response.status}`);
  const cookie = session.split(';')[0]!;
  const page = await fetch(`${base}/`, { headers: { cookie } });
  await page.arrayBuffer();
  const csrf = page.headers.getSetCookie().find((x) => x.startsWith('inkstone_csrf='));
  if (page.status !== 200 || !csrf)
    throw new Error(`the first signed-in page answered ${page.status} with no CSRF cookie`);
  return `${cookie}; ${csrf.split(';')[0]!}`;
}

interface Probe {
  status: number;
  setCookie: string[];
}

/** A target's sign-in (when it is signed in) and probe, in one round: its headers and first GET. */
interface FirstContact {
  round: number;
  headers: Record<string, string> | undefined;
  first: Probe;
}

async function firstContact(
  base: string,
  url: string,
  signedIn: boolean | undefined,
  round: number,
): Promise<FirstContact> {
  const headers = signedIn ? { cookie: await signIn(base) } : undefined;
  return { round, headers, first: await probe(url, headers) };
}

async function probe(url: string, headers?: Record<string, string>): Promise<Probe> {
  const response = await fetch(url, { redirect: 'manual', ...(headers ? { headers } : {}) });
  await response.arrayBuffer(); // read to the end: the connection is free again
  return { status: response.status, setCookie: response.headers.getSetCookie() };
}

/** The most commented demo post's path (Welcome to Inkstone), found as a client would. */
export async function postPath(base: string): Promise<string> {
  const response = await fetch(`${base}/api/v1/posts?perPage=50`);
  const list = (await response.json()) as { items: { title: string; url: string }[] };
  const post = list.items.find((x) => x.title === 'Welcome to Inkstone') ?? list.items[0];
  if (!post) throw new Error('the seeded database lists no posts');
  return post.url;
}

/**
 * A cluster (Inkstone's `serve --workers N`, and the bare cluster alike) is measured no sooner
 * than this after its start. V8's memory reducer shrinks an idle-ish heap once, some 16–25 s
 * after a process starts: in a cluster's primary, which allocates little while it hands out
 * connections, three mark-compacts of its ~17 MB heap (6–9 ms each idle, 17–28 ms with the
 * worker busy beside it on the one CPU of `--workers 1`). They fell in the first measured
 * window of every new `-w1` process (p99 8.6–15.3 ms, 3.8–6.5 ms in its second window;
 * `--trace-gc`; none with `--no-memory-reducer`). Idle this long first, both the primary's and
 * the workers' reductions are behind it (by hand: no mark-compact in the next four windows).
 * In production this happens once per start.
 */
const CLUSTER_SETTLE_MS = 20_000;

/** A server under test as the targets share it: see `slot` in runDatabase. */
interface Slot {
  get(round: number): Promise<Server>;
  close(): Promise<void>;
  readonly loopDelay: boolean;
}

export async function runPagesBench(options: PagesBenchOptions): Promise<PagesBenchResult> {
  const { log } = options;
  const startedAt = new Date().toISOString();
  const start = loadAverage();
  const cpuCount = availableParallelism();
  const pinned = options.pin && cpuCount >= 2 && canPin();
  if (pinned) pinSelf(0);
  const layout = {
    pinned,
    note: pinned
      ? 'wrk and this process on CPU 0; the server under test (Inkstone or the bare server) on CPU 1; the clusters of more than one worker (Inkstone and the bare one) on every CPU; other work on the machine may use either'
      : `not pinned: the scheduler spreads wrk and the server over ${cpuCount} CPUs`,
  };
  log(`page benchmark: ${layout.note}; load average ${start.join(' ')}`);
  const runs: DatabaseRun[] = [];
  const clusterSettleMs = options.clusterSettleMs ?? CLUSTER_SETTLE_MS;
  const dir = mkdtempSync(join(tmpdir(), 'inkstone-pages-'));
  try {
    for (const database of options.databases) {
      if (options.signal?.aborted) break;
      runs.push(await runDatabase(database, dir, pinned, { ...options, clusterSettleMs }));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const verdicts = runs.flatMap((run) => [
    ...(run.medians ?? run.targets).map((x) => x.pass),
    ...(run.baselineSameBytes === undefined ? [] : [run.baselineSameBytes]),
  ]);
  return {
    bench: 'pages',
    startedAt,
    finishedAt: new Date().toISOString(),
    generator: `wrk -t${options.threads} -c${options.connections} -d${options.durationS}s --timeout ${options.timeoutS}s`,
    machine: {
      node: process.version,
      cpus: cpuCount,
      cpuModel: cpus()[0]?.model ?? '?',
      platform: `${process.platform}-${process.arch}`,
    },
    layout,
    loadAverage: { start, end: loadAverage() },
    settings: {
      databases: options.databases,
      connections: options.connections,
      threads: options.threads,
      durationS: options.durationS,
      warmupS: options.warmupS,
      connectionBursts: options.connectionBursts ?? 0,
      timeoutS: options.timeoutS,
      pin: options.pin,
      clusterWorkers: options.clusterWorkers,
      clusterSettleMs,
      pairs: options.pairs ?? 1,
      rounds: options.rounds ?? 1,
      freshProcesses: options.freshProcesses ?? false,
    },
    runs,
    interrupted: options.signal?.aborted ?? false,
    pass: verdicts.length > 0 && verdicts.every(Boolean),
  };
}

async function runDatabase(
  database: DatabaseKind,
  dir: string,
  pinned: boolean,
  options: PagesBenchOptions & { clusterSettleMs: number },
): Promise<DatabaseRun> {
  const { log } = options;
  log(`${database}: seeding the demo content`);
  const prepared = await prepareDatabase(database, dir, options.postgresUrl);
  if (typeof prepared === 'string') {
    log(`  SKIPPED ${database}: ${prepared}`);
    return { database, skipped: prepared, targets: [] };
  }
  const fresh = options.freshProcesses ?? false;
  if (fresh && options.profileDir)
    throw new Error('fresh processes each round and a profile: one or the other');
  const profileDir = options.profileDir && join(options.profileDir, `${database}-${Date.now()}`);
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  const children: Server[] = [];
  /**
   * A server under test, started when a target first wants it (or given, started already); with
   * `fresh`, a new process in each round. `loopDelay`: it answers the loopDelay command.
   * `settleMs`: not used before it is this old (see CLUSTER_SETTLE_MS).
   */
  const slot = (start: () => Promise<Server>, loopDelay: boolean, first?: Server, settleMs = 0): Slot => {
    let server = first;
    let round = 0;
    const close = async () => {
      const stopping = server;
      server = undefined;
      await stopping?.close();
    };
    return {
      loopDelay,
      async get(thisRound) {
        if (server && (!fresh || round === thisRound)) return server;
        await close();
        const since = performance.now();
        server = await start();
        round = thisRound;
        // Recorded before the settle, so that Ctrl-C during it still stops this process.
        children.push(server);
        const took = performance.now() - since;
        if (settleMs > 0) {
          log(
            `  ${server.name}: started in ${(took / 1000).toFixed(1)} s (pid ${server.pid}), idle until ${settleMs / 1000} s after (V8's startup GCs)`,
          );
          await sleep(Math.max(0, settleMs - took), undefined, { signal: options.signal });
        }
        return server;
      },
      close,
    };
  };
  const cpu = pinned ? 1 : undefined;
  // PostgreSQL + Redis is the scaled-out deployment; SQLite the embedded one, with nothing else.
  const redisUrl = database === 'postgres' ? options.redisUrl : undefined;
  try {
    const startUncached = () =>
      forkInkstone(`Inkstone (${database})`, {
        log,
        cpu,
        nodeArgs: profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, '--enable-source-maps'] : [],
        env: {
          ...inkstoneEnv(prepared.url, 0, redisUrl),
          ...(profileDir ? { [SOURCE_MAPS_FILE]: join(profileDir, 'source-maps.json') } : {}),
        },
      });
    const startCached = () =>
      forkInkstone(`Inkstone, page cache (${database})`, {
        cpu,
        env: inkstoneEnv(prepared.url, 60, redisUrl),
      });
    // The limit's bytes: a page-cache hit on the home page, read off an Inkstone started for
    // that alone (stopped at once: an idle one wakes on the CPU under test, see lastUse).
    const reader = await startCached();
    children.push(reader);
    const page = await hitBytes(`${reader.ready.url}/`).finally(() => reader.close());
    const pageFile = join(dir, `home-${database}.json`);
    writePageBytes(pageFile, page);
    const bareEnv = { ...process.env, BARE_PAGE_FILE: pageFile };
    const inkstone = await startUncached();
    children.push(inkstone);
    const base = inkstone.ready.url;
    const startBare = () =>
      forkChild<InkstoneCommand>('bare node:http', '../pages/bare-child.ts', { cpu, env: bareEnv });
    const bare = await startBare();
    children.push(bare);
    const bareGot = await rawGet(`${bare.ready.url}/`);
    const run: DatabaseRun = {
      database,
      baselineSameBytes: bareGot.status === 200 && sameBytes(bareGot, page),
      homeBytes: page.body.length,
      baselineHeaders: page.headers,
      targets: [],
    };
    const wrkOptions: WrkOptions = {
      connections: options.connections,
      threads: options.threads,
      durationS: options.durationS,
      timeoutS: options.timeoutS,
      cpu: pinned ? 0 : undefined,
    };
    // (A new process each time it is measured: it burns the CPU the home page last took.)
    const busyBare = slot(async () => {
      const measured = run.targets.findLast((x) => x.target === 'home');
      return forkChild<InkstoneCommand>('busy bare node:http', '../pages/bare-child.ts', {
        cpu,
        env: { ...bareEnv, BARE_BURN_MS: String(measured?.cpuMsPerRequest ?? 0) },
      });
    }, false);
    const leanBare = slot(
      () =>
        forkChild<InkstoneCommand>('lean bare node:http', '../pages/bare-child.ts', {
          cpu,
          env: { ...bareEnv, BARE_LEAN: '1' },
        }),
      false,
    );
    const withCache = slot(startCached, true);
    const post = await postPath(base);
    // One slot per server: a server is stopped after the last target whose slot it is.
    const bareOne = slot(startBare, false, bare);
    const uncached = slot(startUncached, true, inkstone);
    const targets: {
      target: TargetName;
      child: Slot;
      /** The bare server the ratio is against (default: the single one). */
      against?: 'bare-cluster';
      path: string;
      signedIn?: boolean;
    }[] = [
      { target: 'baseline', child: bareOne, path: '/' },
      { target: 'lean-baseline', child: leanBare, path: '/' },
      { target: 'home', child: uncached, path: '/' },
      { target: 'busy-baseline', child: busyBare, path: '/' },
      { target: 'post', child: uncached, path: post },
      { target: 'api', child: uncached, path: '/api/v1/posts' },
      { target: 'home-cached', child: withCache, path: '/' },
      { target: 'post-cached', child: withCache, path: post },
      // The page cache is on but a session bypasses it: the render a signed-in author gets.
      { target: 'home-signed-in', child: withCache, path: '/', signedIn: true },
    ];
    const workers = options.clusterWorkers;
    if (workers > 0) {
      // As users run it: the CLI's cluster, the page cache on. One worker (and its primary) on
      // Inkstone's CPU, as every other target against the single bare server: unpinned, the
      // scheduler put it beside wrk on CPU 0 now and then, and the ratio measured that. N
      // workers are not pinned: a cluster spreads, as the bare cluster it is against does.
      const settleMs = options.clusterSettleMs;
      const cli = (n: number) =>
        slot(
          () =>
            spawnServer(
              `inkstone serve --workers ${n}`,
              'bin/inkstone.js',
              ['serve', '--workers', String(n)],
              inkstoneEnv(prepared.url, 60, redisUrl),
              n === 1 ? cpu : undefined,
            ),
          false,
          undefined,
          settleMs,
        );
      const one = cli(1);
      const many = cli(workers);
      const bareCluster = slot(
        () =>
          spawnServer(`bare node:cluster × ${workers}`, 'bench/pages/bare-cluster.ts', [], {
            ...bareEnv,
            BARE_WORKERS: String(workers),
          }),
        false,
        undefined,
        settleMs,
      );
      targets.push(
        { target: 'home-cached-w1', child: one, path: '/' },
        { target: 'post-cached-w1', child: one, path: post },
        { target: 'bare-cluster', child: bareCluster, path: '/' },
        { target: 'home-cached-wauto', child: many, path: '/', against: 'bare-cluster' },
        { target: 'post-cached-wauto', child: many, path: post, against: 'bare-cluster' },
      );
    }
    const chosen = options.only
      ? targets.filter((x) => x.target === 'baseline' || options.only!.includes(x.target))
      : targets;
    // The Inkstone started first (for the home page's bytes) idles on the CPU under test when
    // no chosen target is its (the gate's cached rows): stop it now.
    if (!chosen.some((x) => x.child === uncached)) await uncached.close();
    const oneRound = measurementOrder(chosen, options);
    const measured = Array.from({ length: options.rounds ?? 1 }, () => oneRound).flat();
    // Warm-ups are once per round: a server that sat idle while a round measured the others
    // (minutes) was cold again. Without them, the first target on each server in rounds 2 and 3
    // had a p99 of 110–1,000 ms (bare servers too) where round 1 had 5–40 ms, and the second
    // target on the same server, right after, was back to normal.
    const roundOf = (index: number) => Math.floor(index / oneRound.length);
    // Per target, the round it was last warmed up in, and its first contact then.
    const warmed = new Map<TargetName, FirstContact>();
    const burstWarmed = new Map<Server, number>();
    const windows: Partial<Record<TargetName, [number, number]>> = {};
    let baselineRps = NaN;
    let baselineP99 = NaN;
    const bareCluster = { rps: NaN, p99: NaN };
    // Each server stops after the last target whose slot it is (in its round, when each round
    // has new ones): an idle Inkstone still wakes ~150 times a second (its event-loop monitors),
    // on the CPU the next server under test is pinned to.
    const lastUse = new Map((fresh ? oneRound : measured).map((x, index) => [x.child, index]));
    const isLastUse = (server: Slot, index: number) =>
      lastUse.get(server) === (fresh ? index % oneRound.length : index);
    for (const [index, { target, child: server, path, signedIn, against }] of measured.entries()) {
      if (options.signal?.aborted) break;
      const thisRound = roundOf(index);
      let child: Server;
      try {
        child = await server.get(thisRound);
      } catch (error) {
        // Ctrl-C reached a child still loading its code (it ignores Ctrl-C once it serves).
        if (options.signal?.aborted) break;
        throw error;
      }
      const url = `${child.ready.url}${path}`;
      // Signed in and probed once per target and round, before its warm-up: a request shaped
      // unlike wrk's (fetch's headers, a login, a new session) between a warmed server's
      // windows made V8 recompile the request path during the next one (~100 functions, with
      // the process on one CPU): see the README's pages section, 2026-12-06.
      const earlier = warmed.get(target);
      const contact =
        earlier?.round === thisRound
          ? earlier
          : await firstContact(child.ready.url, url, signedIn, thisRound);
      const warm = contact === earlier;
      warmed.set(target, contact);
      const { headers, first } = contact;
      const wrk = { ...wrkOptions, headers };
      const bursts = burstWarmed.get(child) === thisRound ? 0 : (options.connectionBursts ?? 0);
      burstWarmed.set(child, thisRound);
      if (warm) log(`  ${target}: ${options.durationS} s`);
      else {
        const burstNote = bursts > 0 ? `${bursts} connection burst${bursts === 1 ? '' : 's'} of 1 s, ` : '';
        log(`  ${target}: warm-up ${burstNote}${options.warmupS} s, then ${options.durationS} s`);
        for (let i = 0; i < bursts; i++) await runWrk(url, { ...wrk, durationS: 1 });
        await runWrk(url, { ...wrk, durationS: options.warmupS });
      }
      if (server.loopDelay) await child.call({ type: 'loopDelay', reset: true });
      const profiled = child === inkstone && profileDir;
      const from = profiled ? await inkstone.call<number>({ type: 'clock' }) : 0;
      const cpuBefore = await child.call<number>({ type: 'cpu' });
      const result = await runWrk(url, wrk);
      const cpuAfter = await child.call<number>({ type: 'cpu' });
      if (profiled) windows[target] = [from, await inkstone.call<number>({ type: 'clock' })];
      const loopDelayMs = server.loopDelay
        ? await child.call<LoopDelay>({ type: 'loopDelay', reset: true })
        : undefined;
      if (target === 'baseline') {
        baselineRps = result.requestsPerSecond;
        baselineP99 = result.latencyMs.p99;
      }
      if (target === 'bare-cluster') {
        bareCluster.rps = result.requestsPerSecond;
        bareCluster.p99 = result.latencyMs.p99;
      }
      const bare = against === 'bare-cluster' ? bareCluster : { rps: baselineRps, p99: baselineP99 };
      const errors = Object.values(result.errors).reduce((a, b) => a + b, 0);
      const p99OverP50 = round(result.latencyMs.p99 / (result.latencyMs.p50 || NaN), 2);
      const ratio = round(result.requestsPerSecond / bare.rps, 3);
      const p99OverBare = round(result.latencyMs.p99 / bare.p99, 3);
      const missed = missedGoals(target, { ratio, p99OverP50, p99OverBare });
      missed.push(...failures(target, first.status, result));
      const entry: TargetResult = {
        target,
        path,
        wrk: result,
        ratio,
        p99OverP50,
        p99OverBare,
        ...(child.pid === undefined ? {} : { pid: child.pid }),
        cpuMsPerRequest: round((cpuAfter - cpuBefore) / (result.requests || NaN), 4),
        ...(loopDelayMs ? { loopDelayMs } : {}),
        probe: { status: first.status, setCookie: first.setCookie },
        pass: missed.length === 0,
        missed,
      };
      run.targets.push(entry);
      if (target === 'busy-baseline' || isLastUse(server, index)) await server.close();
      log(
        `    ${result.requestsPerSecond} req/s (${entry.ratio}×), p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms, errors ${errors}`,
      );
    }
    if (profileDir) {
      // The profile is written when the process exits.
      await uncached.close();
      const main = readdirSync(profileDir).find((f) => /\.\d+\.0\.\d+\.cpuprofile$/.test(f));
      if (!main) throw new Error(`no main-thread profile in ${profileDir}`);
      mapProfile(join(profileDir, main), join(profileDir, 'source-maps.json'));
      run.profile = {};
      for (const [target, window] of Object.entries(windows)) {
        run.profile[target as TargetName] = summarizeProfile(join(profileDir, main), window);
      }
    }
    if ((options.rounds ?? 1) > 1 || (options.pairs ?? 1) > 1) run.medians = mediansOf(run.targets);
    return run;
  } finally {
    await Promise.all(children.map((child) => child.close()));
    await prepared.drop().catch((error: unknown) => log(`cleanup: ${String(error)}`));
  }
}
