import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { pino } from 'pino';
import { CLUSTER_ENV, startCacheHub } from './cache/ipc-bus.js';
import { startJobsHub } from './cluster-jobs.js';
import type { Config } from './config.js';
import { openDatabase } from './db/migrate.js';
import { appLogger, prettyLogs } from './http/logging.js';
import { clusterScraper } from './metrics/cluster.js';
import { startMetricsServer } from './metrics/server.js';

/** `--workers N`: a whole number of 1 or more, or `auto` for one per core. */
export function parseWorkers(value: string): number {
  if (value === 'auto') return availableParallelism();
  const workers = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(workers) || workers < 1) {
    throw new Error(`--workers must be a whole number of 1 or more, or auto (got "${value}")`);
  }
  return workers;
}

/**
 * How connections reach the workers. Round-robin (Node's default): the primary accepts each
 * one and passes it to a worker over IPC, which spreads them evenly. With one worker there is
 * nothing to spread, and it accepts its own (SCHED_NONE): round-robin's handed-over
 * connections had a long tail under load here (interleaved pinned wrk runs, a cached page's
 * p99 41–120 ms handed over, 7–82 ms accepted by the worker, 8–83 ms for a single process; a
 * bare node:cluster of one 20–129 against 6–13 ms). NODE_CLUSTER_SCHED_POLICY, when set,
 * decides instead, as Node documents.
 */
export function schedulingPolicy(workers: number, env: NodeJS.ProcessEnv): number | undefined {
  if (env.NODE_CLUSTER_SCHED_POLICY !== undefined) return undefined;
  return workers === 1 ? cluster.SCHED_NONE : cluster.SCHED_RR;
}

// A worker that keeps dying is restarted ever later (0.25 s, 0.5 s, 1 s … 30 s), counted over
// the last minute: a bug that kills it at each request does not fork in a tight loop.
const RESTART_BASE_MS = 250;
const RESTART_MAX_MS = 30_000;
const CRASH_WINDOW_MS = 60_000;

/**
 * The primary of `inkstone serve --workers N`: migrates once, forks N workers that each run
 * the server on the shared port (node:cluster hands connections round-robin), restarts a
 * worker that dies, and on SIGINT/SIGTERM stops them all gracefully. Without Redis it also
 * holds the workers' shared cache (src/cache/ipc-bus.ts). Resolves with the exit code.
 */
export async function runPrimary(config: Config, workers: number): Promise<number> {
  // The same rule as the workers' logs (pretty only in development), so a terminal running
  // `serve --workers N` does not mix JSON lines from the primary among pretty ones.
  const { stream, ...logOptions } = appLogger({
    level: config.logLevel,
    pretty: prettyLogs(config.env, config.logPretty, process.stdout.isTTY),
  });
  const log = pino({ ...logOptions, base: { pid: process.pid, process: 'primary' } }, stream);
  // Before any worker exists, so none of them runs a migration while another serves.
  const { handle, applied } = await openDatabase(config.database);
  await handle.close();
  if (applied.length) log.info({ applied }, `Applied migrations: ${applied.join(', ')}`);

  const stopHub = config.redis ? undefined : startCacheHub(cluster, config.cache);
  // AI jobs run in the worker that took them; the primary tells the others where (cluster-jobs.ts).
  const stopJobs = config.redis ? undefined : startJobsHub(cluster);
  if (!config.redis && workers > 1) {
    log.warn(
      'No REDIS_URL: login attempts and AI limits are counted per worker, and AI jobs run in the worker that took them (a worker that dies loses its jobs); see README, "serve --workers"',
    );
  }
  // METRICS_PORT: one scrape returns every worker's series, summed (src/metrics/cluster.ts).
  // Also answers workers asked for /metrics on the main port (METRICS_TOKEN).
  const scraper = clusterScraper(cluster);
  let metricsServer: Awaited<ReturnType<typeof startMetricsServer>> | undefined;
  if (config.metrics.port !== undefined) {
    metricsServer = await startMetricsServer(
      config.host,
      config.metrics.port,
      () => scraper.scrape(),
      scraper.contentType,
      (error) => log.error({ err: error }, 'metrics scrape failed'),
    );
  }
  const crashes: number[] = [];
  let everListened = false;
  let stopping = false;
  let exitCode = 0;
  let done!: (code: number) => void;
  const finished = new Promise<number>((resolve) => (done = resolve));

  const policy = schedulingPolicy(workers, process.env);
  // Read by the first fork: set before it.
  if (policy !== undefined) cluster.schedulingPolicy = policy;
  const fork = () => cluster.fork({ [CLUSTER_ENV]: '1' });
  cluster.on('listening', (worker: Worker) => {
    everListened = true;
    log.info(
      { worker: worker.id, workerPid: worker.process.pid },
      `Worker ${worker.id} started (pid ${worker.process.pid})`,
    );
  });
  cluster.on('exit', (worker: Worker, code: number | null, signal: string | null) => {
    if (stopping) {
      // Our SIGTERM ends a worker still booting (no handler yet) by the signal: that is a stop.
      if (code !== null && code !== 0) exitCode = 1;
      if (Object.keys(cluster.workers ?? {}).length === 0) done(exitCode);
      return;
    }
    if (!everListened) {
      // The first start failed (a port in use, a database that went away): restarting would
      // fail the same way, so stop and say so; the worker has printed why.
      log.error({ worker: worker.id, code, signal }, 'A worker failed to start; stopping');
      exitCode = 1;
      void stop('startup failure');
      return;
    }
    const now = Date.now();
    crashes.push(now);
    while (crashes[0]! < now - CRASH_WINDOW_MS) crashes.shift();
    const delay = Math.min(RESTART_MAX_MS, RESTART_BASE_MS * 2 ** (crashes.length - 1));
    log.warn(
      { worker: worker.id, workerPid: worker.process.pid, code, signal, restartInMs: delay },
      `Worker ${worker.id} died (${signal ?? `exit code ${code}`}); restarting in ${delay} ms`,
    );
    setTimeout(() => {
      if (!stopping) fork();
    }, delay);
  });

  const stop = async (reason: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ reason }, 'Stopping the workers');
    const alive = Object.values(cluster.workers ?? {}).filter((worker) => worker !== undefined);
    if (alive.length === 0) return done(exitCode);
    // Each worker closes its server (requests in flight finish) and exits 0 by itself; one
    // that has not by the end of its own shutdown budget is killed.
    for (const worker of alive) worker.process.kill('SIGTERM');
    const force = setTimeout(() => {
      exitCode = 1;
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
    }, config.shutdownTimeoutMs + 1000);
    force.unref();
  };
  // The terminal sends Ctrl-C to the whole process group: the workers get SIGINT themselves
  // too, and ignore the repeat (src/server.ts).
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  for (let i = 0; i < workers; i++) fork();
  log.info(`Forked ${workers} worker${workers === 1 ? '' : 's'}`);
  const code = await finished;
  stopHub?.();
  stopJobs?.();
  metricsServer?.closeAllConnections();
  metricsServer?.close();
  return code;
}
