import type { Redis } from 'ioredis';
import type { Config } from '../config.js';
import { type JobHandler, JobWorkers, type WorkerOptions } from './bullmq.js';

/** BullMQ workers for AI jobs with the configured lock, restarts and key prefix. */
export function startJobWorkers(
  redis: Redis,
  handler: JobHandler,
  config: Config,
  concurrency: number,
  log: WorkerOptions['log'],
): Promise<JobWorkers> {
  return JobWorkers.start(redis, handler, {
    prefix: config.redis?.prefix ?? 'inkstone:',
    concurrency,
    lockMs: config.jobs.lockMs,
    maxRestarts: config.jobs.maxRestarts,
    log,
  });
}
