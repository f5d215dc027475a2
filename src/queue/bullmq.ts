import type * as BullMQ from 'bullmq';
import type { Job, Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { lazyRequire } from '../lazy-require.js';

/** Loaded with the first queue: an instance without Redis has none. */
const bullmq = lazyRequire<typeof BullMQ>('bullmq');

// One queue, one job name: a job carries the id of its ai_jobs row and the trace it was
// queued in, nothing else.
const QUEUE = 'ai-jobs';
const JOB = 'generate';

// An outage answers at once (the client has no offline queue); a Redis that hangs must
// not hold a submission longer than this either.
const ADD_DEADLINE_MS = 2000;

/** A job's data in Redis. */
interface JobData {
  jobId: string;
  /** W3C traceparent of the request that queued it; absent in jobs queued before it was stored. */
  traceparent?: string;
}

export interface QueueKeys {
  /** REDIS_PREFIX: BullMQ's keys start with `<prefix>bull:`. */
  prefix: string;
}

export interface JobContext {
  /** Aborts when the job is cancelled (DELETE on any instance) or handed back. */
  signal: AbortSignal;
  /** True once this worker is handing its jobs back (shutting down): the job stops unfinished. */
  handingBack: () => boolean;
  /** How many times a worker running this job died before (BullMQ's stalled counter). */
  restarts: number;
  /** The trace of the request that queued the job (its `traceparent`), if it was in one. */
  traceparent?: string;
}

export type JobOutcome =
  | { kind: 'finished' }
  /** Not now (the pipeline is full here): again after the delay, on any worker. */
  | { kind: 'later'; delayMs: number }
  /** Stopped unfinished because this worker is stopping: another starts it again. */
  | { kind: 'handed-back' };

export interface JobHandler {
  run(jobId: string, context: JobContext): Promise<JobOutcome>;
  /** BullMQ gave up on the job (it stalled more than AI_JOB_MAX_RESTARTS times, or run threw). */
  failed(jobId: string, reason: string, traceparent?: string): Promise<void>;
}

const bullPrefix = (keys: QueueKeys) => `${keys.prefix}bull`;
const cancelChannel = (keys: QueueKeys) => `${keys.prefix}ai:jobs:cancel`;

export class QueueUnavailable extends Error {}

/**
 * The web side of the BullMQ queue: adds jobs, removes waiting ones, and tells whichever
 * worker runs a job to cancel it (Redis pub/sub: BullMQ's own cancelJob reaches only the
 * worker object it is called on). Uses the app's fail-fast client as it is (BullMQ shares it).
 */
export class JobQueue {
  private readonly queue: Queue;

  constructor(
    private readonly redis: Redis,
    private readonly keys: QueueKeys,
  ) {
    this.queue = new (bullmq().Queue)(QUEUE, {
      connection: redis,
      prefix: bullPrefix(keys),
      defaultJobOptions: {
        // The ai_jobs row is the record; BullMQ's copy only needs to outlive a look at it.
        removeOnComplete: { age: 3600 },
        removeOnFail: { age: 86_400 },
      },
    });
    // Errors of the shared client are the Redis plugin's to report.
    this.queue.on('error', () => {});
  }

  /**
   * Queues the job (its BullMQ id is the job's own, so adding twice adds once), with the trace
   * it belongs to for whichever worker runs it; throws QueueUnavailable.
   */
  async add(jobId: string, traceparent?: string): Promise<void> {
    const data: JobData = traceparent ? { jobId, traceparent } : { jobId };
    await deadline(this.queue.add(JOB, data, { jobId }), ADD_DEADLINE_MS);
  }

  /** Removes a job no worker has taken yet; false when one has (or it is gone). */
  async remove(jobId: string): Promise<boolean> {
    return (await deadline(this.queue.remove(jobId), ADD_DEADLINE_MS)) === 1;
  }

  /** Asks every worker to stop the job if it runs it. */
  async cancel(jobId: string): Promise<void> {
    await deadline(this.redis.publish(cancelChannel(this.keys), jobId), ADD_DEADLINE_MS);
  }

  /** BullMQ's state of the job: waiting, active, delayed, completed, failed… or unknown (gone). */
  async state(jobId: string): Promise<{ state: string; reason?: string }> {
    const job = await deadline(this.queue.getJob(jobId), ADD_DEADLINE_MS);
    if (!job) return { state: 'unknown' };
    return { state: await deadline(job.getState(), ADD_DEADLINE_MS), reason: job.failedReason };
  }

  /**
   * Jobs by state, read from Redis in one round trip. BullMQ's getJobCounts answers exactly the
   * states asked (with 0 for an empty one); `waiting` does not include jobs added with a
   * priority, which wait in `prioritized` (none of ours today), so they are added in.
   */
  async counts(): Promise<QueueCounts> {
    const counts = await deadline(
      this.queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'failed'),
      ADD_DEADLINE_MS,
    );
    const of = (state: string) => counts[state] ?? 0;
    return {
      waiting: of('waiting') + of('prioritized'),
      active: of('active'),
      delayed: of('delayed'),
      failed: of('failed'),
    };
  }

  async close(): Promise<void> {
    await this.queue.close().catch(() => {});
  }
}

export interface QueueCounts {
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
}

export interface WorkerOptions extends QueueKeys {
  concurrency: number;
  /** BullMQ lockDuration and stalledInterval (AI_JOB_LOCK_MS). */
  lockMs: number;
  /** BullMQ maxStalledCount (AI_JOB_MAX_RESTARTS). */
  maxRestarts: number;
  log: { info(object: object, message: string): void; warn(object: object, message: string): void };
}

/**
 * Runs queued jobs with `handler`: a BullMQ Worker (its own blocking connections, which must
 * wait for Redis rather than fail: `maxRetriesPerRequest: null`) and a subscriber to the
 * cancel channel. A worker that dies mid-job leaves the job's lock to expire; another
 * worker's stalled check (every `lockMs`) puts it back in the queue and it starts again.
 */
export class JobWorkers {
  private constructor(
    private readonly worker: Worker,
    /** Read by the running jobs: set once closing has waited long enough. */
    private readonly state: { handingBack: boolean },
    /** BullMQ's main connection is this one itself (it duplicates it only to block). */
    private readonly connection: Redis,
    private readonly subscriber: Redis,
    private readonly log: WorkerOptions['log'],
  ) {}

  /** `redis` is a template: BullMQ and the subscriber take duplicates of it. */
  static async start(redis: Redis, handler: JobHandler, options: WorkerOptions): Promise<JobWorkers> {
    const waiting = { maxRetriesPerRequest: null, enableOfflineQueue: true };
    const connection = redis.duplicate(waiting);
    const state = { handingBack: false };
    const { Worker, DelayedError, WaitingError } = bullmq();
    const worker = new Worker<JobData>(
      QUEUE,
      async (job: Job<JobData>, token?: string, signal?: AbortSignal) => {
        const { jobId, traceparent } = job.data;
        // BullMQ passes a signal to a processor that declares three parameters.
        const outcome = await handler.run(jobId, {
          signal: signal ?? new AbortController().signal,
          handingBack: () => state.handingBack,
          restarts: job.stalledCounter,
          traceparent,
        });
        if (outcome.kind === 'later') {
          await job.moveToDelayed(Date.now() + outcome.delayMs, token);
          throw new DelayedError();
        }
        if (outcome.kind === 'handed-back') {
          await job.moveToWait(token);
          throw new WaitingError();
        }
      },
      {
        connection,
        prefix: bullPrefix(options),
        concurrency: options.concurrency,
        lockDuration: options.lockMs,
        stalledInterval: options.lockMs,
        maxStalledCount: options.maxRestarts,
        autorun: false,
      },
    );
    worker.on('failed', (job, error) => {
      if (!job) return;
      const { jobId, traceparent } = job.data as JobData;
      void handler
        .failed(jobId, error.message, traceparent)
        .catch((caught: unknown) =>
          options.log.warn({ err: caught, job: job.id }, 'could not record a failed job'),
        );
    });
    // While Redis is away every reconnect attempt is an error: one warning per half minute.
    let warnedAt = -Infinity;
    worker.on('error', (error) => {
      if (performance.now() - warnedAt < 30_000) return;
      warnedAt = performance.now();
      options.log.warn({ err: error }, 'job worker error (repeats within 30 s not logged)');
    });

    const subscriber = redis.duplicate(waiting);
    subscriber.on('error', () => {});
    await subscriber.subscribe(cancelChannel(options));
    subscriber.on('message', (_channel: string, jobId: string) => {
      if (worker.cancelJob(jobId, 'cancelled')) options.log.info({ job: jobId }, 'job cancelled');
    });

    void worker.run().catch((error: unknown) => options.log.warn({ err: error }, 'job worker stopped'));
    await worker.waitUntilReady();
    return new JobWorkers(worker, state, connection, subscriber, options.log);
  }

  /**
   * Takes no new job; running ones get `graceMs` to finish, then are handed back to the
   * queue (stopped here, started again by another worker) so that closing never waits on a
   * long answer.
   */
  async close(graceMs: number): Promise<void> {
    const timer = setTimeout(() => {
      this.state.handingBack = true;
      this.log.info({}, 'handing running jobs back to the queue');
      this.worker.cancelAllJobs('handed back');
    }, graceMs);
    // BullMQ's close waits on Redis (its blocking connection, the lock renewal); with Redis
    // gone it never returns. After the grace and a little more, disconnect and stop waiting.
    const closing = this.worker.close().then(
      () => 'closed' as const,
      () => 'closed' as const,
    );
    let giveUp: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      giveUp = setTimeout(() => resolve('late'), graceMs + CLOSE_MARGIN_MS);
    });
    try {
      if ((await Promise.race([closing, late])) === 'late') {
        this.log.warn({}, 'the job workers did not stop in time (Redis unreachable?); disconnecting');
        void this.worker.close(true).catch(() => {});
      }
    } finally {
      clearTimeout(timer);
      clearTimeout(giveUp);
      this.subscriber.disconnect();
      this.connection.disconnect();
    }
  }
}

/** How long past the jobs' grace a close waits for BullMQ before disconnecting under it. */
const CLOSE_MARGIN_MS = 1000;

async function deadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new QueueUnavailable(`no answer from Redis within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } catch (error) {
    if (error instanceof QueueUnavailable) throw error;
    throw new QueueUnavailable((error as Error).message, { cause: error });
  } finally {
    clearTimeout(timer);
  }
}
