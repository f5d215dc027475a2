import type { Server } from 'node:http';
import { pino } from 'pino';
import type { Config } from '../config.js';
import { openDatabase } from '../db/migrate.js';
import { appLogger, prettyLogs } from '../http/logging.js';
import { aiGauges } from '../metrics/ai.js';
import { dbMetrics } from '../metrics/db.js';
import { createMetrics } from '../metrics/index.js';
import { queueMetrics } from '../metrics/queue.js';
import { startMetricsServer } from '../metrics/server.js';
import { closeRedis, connectRedis, createRedisClient } from '../plugins/redis.js';
import { startJobWorkers } from '../queue/start.js';
import { createServices } from '../services.js';
import { startTracing } from '../tracing/tracing.js';

export const WORKER_USAGE = `Usage: inkstone worker [--concurrency N] [--metrics-port N]

Runs queued AI jobs (POST /api/v1/ai/generations) from Redis, on this machine or any other
with the same configuration: DATABASE_URL, REDIS_URL, REDIS_PREFIX and the AI_* variables.

  --concurrency N    jobs run at once (default: AI_WORKER_CONCURRENCY, 4)
  --metrics-port N   serve Prometheus /metrics on this port (on HOST): the AI series of the
                     jobs this worker runs, and the queue's depth (default: METRICS_PORT;
                     give each worker on one machine a port of its own)

A worker that crashes loses no job: after AI_JOB_LOCK_MS another worker starts it again.
SIGTERM or SIGINT: no new job is taken, running ones get half of SHUTDOWN_TIMEOUT_MS to
finish and are then handed back to the queue for another worker.`;

/** `inkstone worker`: runs until SIGTERM or SIGINT, then closes cleanly and exits. */
export async function runWorker(
  config: Config,
  options: { concurrency?: number; metricsPort?: number } = {},
): Promise<void> {
  if (!config.redis) {
    throw new Error('inkstone worker needs REDIS_URL; without Redis, `inkstone serve` runs jobs itself.');
  }
  const { stream, ...logOptions } = appLogger({
    level: config.logLevel,
    pretty: prettyLogs(config.env, config.logPretty, process.stdout.isTTY),
  });
  const log = pino({ ...logOptions, base: { pid: process.pid, process: 'worker' } }, stream);
  const { handle } = await openDatabase(config.database, { log });
  const redis = createRedisClient(config.redis.url);
  try {
    await connectRedis(redis, config.redis.url);
  } catch (error) {
    await handle.close();
    throw error;
  }
  redis.on('error', (error: Error) => log.debug({ err: error }, 'Redis connection error'));
  // The jobs run here, so their AI series are counted here: `serve` never sees them.
  const metrics = createMetrics();
  // OTEL_EXPORTER_OTLP_ENDPOINT, as serve reads it: each job's run, its queries, model call and
  // webhook are exported as spans in the trace of the request that queued the job.
  const tracing = await startTracing(config.tracing, log);
  const services = createServices(handle, config, {
    redis,
    log,
    aiMetrics: metrics.ai.sink,
    ...(tracing ? { tracing } : {}),
  });
  if (!services.jobRunner) throw new Error('no job runner: REDIS_URL is set but Redis was not passed in');
  aiGauges(metrics.registry, () => services.ai.load());
  const countQuery = dbMetrics(metrics.registry, () => handle.poolStats()).query;
  const stopQueries = handle.onQuery((event) => {
    countQuery(event);
    tracing?.query(event);
  });
  const { jobQueue } = services;
  if (jobQueue) queueMetrics(metrics.registry, () => jobQueue.counts());
  const metricsPort = options.metricsPort ?? config.metrics.port;
  let metricsServer: Server | undefined;
  if (metricsPort !== undefined) {
    try {
      metricsServer = await startMetricsServer(
        config.host,
        metricsPort,
        () => metrics.registry.metrics(),
        metrics.registry.contentType,
        (error) => log.error({ err: error }, 'metrics scrape failed'),
      );
    } catch (error) {
      // A port in use stops the start, saying which, rather than a worker nobody can scrape.
      stopQueries();
      await services.ai.close();
      await services.jobQueue?.close();
      await closeRedis(redis);
      await handle.close();
      await tracing?.shutdown();
      throw new Error(`the metrics port ${metricsPort} cannot be opened: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }
  const concurrency = options.concurrency ?? config.jobs.workerConcurrency;
  const workers = await startJobWorkers(redis, services.jobRunner, config, concurrency, log);
  log.info({ concurrency, database: config.database.kind, metricsPort }, 'worker ready');

  let closing = false;
  const close = async (signal: string) => {
    if (closing) return;
    closing = true;
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), config.shutdownTimeoutMs);
    force.unref();
    await workers.close(config.shutdownTimeoutMs / 2);
    metricsServer?.closeAllConnections();
    metricsServer?.close();
    stopQueries();
    await services.ai.close();
    await services.jobQueue?.close();
    await closeRedis(redis);
    await handle.close();
    // Last: the spans of the jobs that just ended are sent (or given up on) before the exit.
    await tracing?.shutdown();
    log.info({}, 'worker stopped');
    log.flush();
    process.exit(0);
  };
  process.once('SIGINT', () => void close('SIGINT'));
  process.once('SIGTERM', () => void close('SIGTERM'));
}
