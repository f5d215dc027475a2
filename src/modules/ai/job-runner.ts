import type { Context } from '@opentelemetry/api';
import { type Clock, isoNow } from '../../clock.js';
import type { JobStatus } from '../../db/types.js';
import { AppError } from '../../errors.js';
import type { JobContext, JobHandler, JobOutcome } from '../../queue/bullmq.js';
import { inJobTrace } from '../../tracing/jobs.js';
import { untracedRequestContext } from '../../tracing/propagation.js';
import type { Tracing } from '../../tracing/tracing.js';
import type { Actor } from '../access/permissions.js';
import type { AiEvent, AiEventBody } from './broadcast.js';
import type { RedisEventStream } from './event-stream.js';
import { FINISHED, type JobInput, type JobsService } from './jobs.js';
import type { JobsRepository } from './jobs-repository.js';
import type { AiService, Generation } from './service.js';

const FINISHED_OUTCOME: JobOutcome = { kind: 'finished' };

// Said in the stream before the tokens of a generation started again, so that a reader
// knows the text so far is void: the next `start` event begins the answer anew.
export const RESTARTED =
  'The worker running this job stopped before it finished; the answer starts again from the beginning.';

// Full here (AI_MAX_QUEUE) or the user's own cap in this process (AI_USER_CONCURRENCY):
// the job waits in the queue instead of failing, and goes to whichever worker has room.
const RETRYABLE = new Set(['ai_queue_full', 'ai_too_many_running']);

/**
 * What a worker does with a queued job: runs it through the same AiService pipeline as every
 * other door (with the limit already taken at submit), relays its events to the job's Redis
 * stream, records how it ended and sends the webhook (JobsService.settle).
 *
 * A job taken again after its worker died starts its generation again: the reader of the
 * stream gets a notice (RESTARTED), then the new generation's events, numbered on.
 *
 * Each run continues the trace of the request that queued the job (src/tracing/jobs.ts), so
 * its model call and webhook carry that trace id, on whichever machine it runs.
 */
export class JobRunner implements JobHandler {
  constructor(
    private readonly deps: {
      ai: AiService;
      jobs: JobsService;
      repo: JobsRepository;
      events: RedisEventStream;
      users: { getActor(id: number): Promise<Actor | null> };
      clock: Clock;
      log?: { info(object: object, message: string): void; warn(object: object, message: string): void };
      /** Span export: a span per run, under the submitting request's; absent: only propagation. */
      tracing?: Pick<Tracing, 'startJob' | 'endJob'>;
    },
  ) {}

  run(jobId: string, context: JobContext): Promise<JobOutcome> {
    return inJobTrace(
      this.deps.tracing,
      context.traceparent,
      { jobId, restarts: context.restarts },
      (trace) => this.runJob(jobId, context, trace),
    );
  }

  /** `trace`: the job's, which its model call and webhook carry on. */
  private async runJob(jobId: string, context: JobContext, trace: Context): Promise<JobOutcome> {
    const { repo, events } = this.deps;
    const job = await repo.get(jobId);
    if (!job) return FINISHED_OUTCOME;
    if (FINISHED.has(job.status)) {
      // Cancelled before it ran, or ended by a worker that died right after: readers still
      // need the stream's end.
      if (job.status !== 'completed' && !(await events.ended(jobId))) {
        await events.append(jobId, [endOf(job.status, job.error)]);
      }
      // The worker died between recording the end and reporting it: report it now. A
      // receiver may get it twice (at least once); Inkstone-Delivery names the duplicate.
      if (job.callback_url && job.webhook_status === 'pending') await this.deps.jobs.report(jobId, trace);
      return FINISHED_OUTCOME;
    }
    const actor = await this.deps.users.getActor(job.user_id);
    if (!actor) {
      return this.fail(jobId, new AppError(403, 'forbidden', 'The job’s user no longer exists.'), trace);
    }

    // Before the generation starts: a Redis that fails here fails nothing that runs.
    const previous = await events.lastId(jobId);
    const input = JSON.parse(job.request) as JobInput;
    let generation: Generation;
    try {
      generation = await this.deps.ai.write(
        input.kind,
        { title: input.title, text: input.text, instruction: input.instruction },
        actor,
        // Run again after a crash: not joined to an identical request in flight, which may be
        // the dead worker's own (its claim outlives it for a while).
        { alias: input.model, fresh: input.regenerate || previous >= 0, limitTaken: true, trace },
      );
    } catch (error) {
      if (error instanceof AppError && RETRYABLE.has(error.code)) {
        const seconds = Number(error.headers?.['retry-after'] ?? 2);
        return { kind: 'later', delayMs: seconds * 1000 };
      }
      return this.fail(jobId, error, trace);
    }
    this.deps.log?.info({ job: jobId, generation: generation.id, restarts: context.restarts }, 'job started');
    return this.follow(jobId, generation, context, previous, trace);
  }

  /** BullMQ failed the job without a run that recorded it: record it, end its stream. */
  async failed(jobId: string, reason: string, traceparent?: string): Promise<void> {
    // In the job's trace (no run, so no span of its own): the webhook it may send carries it.
    const message = `worker_lost: ${reason}`;
    if (await this.deps.jobs.settle(jobId, 'failed', message, untracedRequestContext(traceparent))) {
      await this.deps.events.append(jobId, [
        { type: 'error', code: 'worker_lost', message, status: 500, partial: false },
      ]);
    }
  }

  /** `previous`: the last event id in the job's stream before this run (-1: none, a first run). */
  private async follow(
    jobId: string,
    generation: Generation,
    context: JobContext,
    previous: number,
    trace: Context,
  ): Promise<JobOutcome> {
    const { repo, events, jobs, clock } = this.deps;
    // Leaving the broadcast (cancel, hand-back) stops the model call unless someone else in
    // this process reads the same generation (coalesced): then it goes on for them.
    const reading = new AbortController();
    const leave = () => reading.abort();
    context.signal.addEventListener('abort', leave, { once: true });
    try {
      let firstId = previous + 1;
      try {
        if (!(await repo.start(jobId, generation.id, isoNow(clock)))) reading.abort();
        if (firstId > 0) {
          firstId = (await events.append(jobId, [{ type: 'notice', message: RESTARTED }], firstId)) + 1;
        }
      } catch (error) {
        // Nobody reads the generation yet, so leaving would not stop it: stop it here.
        this.deps.ai.cancel(generation.id);
        throw error;
      }
      // The end event goes out after the record is written, so that a reader who sees the
      // stream end and GETs the job finds it ended too.
      let end: AiEvent | undefined;
      const withheld = untilEnd(generation.broadcast.subscribe(reading.signal), (event) => (end = event));
      await events.publish(jobId, withheld, firstId);
      await generation.settled;
      if (end?.type === 'done' || end?.type === 'error') {
        const { id, ...body } = end;
        const failed = end.type === 'error' ? end : undefined;
        const status: JobStatus = !failed
          ? 'completed'
          : failed.code === 'cancelled'
            ? 'cancelled'
            : 'failed';
        const won = await jobs.end(jobId, status, failed ? `${failed.code}: ${failed.message}` : null);
        await events.append(jobId, [body], firstId + id);
        if (won) await jobs.report(jobId, trace);
      } else if (context.handingBack()) {
        return { kind: 'handed-back' };
      } else {
        // Left before the end: cancelled (the row says so already, unless the cancel was ours).
        await events.append(jobId, [endOf('cancelled', null)]);
        await jobs.settle(jobId, 'cancelled', 'cancelled', trace);
      }
      return FINISHED_OUTCOME;
    } finally {
      context.signal.removeEventListener('abort', leave);
    }
  }

  private async fail(jobId: string, error: unknown, trace: Context): Promise<JobOutcome> {
    const { code, message, status } =
      error instanceof AppError
        ? error
        : { code: 'ai_failed', message: 'The writing assistant failed.', status: 500 };
    if (!(error instanceof AppError)) this.deps.log?.warn({ err: error, job: jobId }, 'job failed to start');
    if (await this.deps.jobs.settle(jobId, 'failed', `${code}: ${message}`, trace)) {
      await this.deps.events.append(jobId, [{ type: 'error', code, message, status, partial: false }]);
    }
    return FINISHED_OUTCOME;
  }
}

/** The events up to the end event, which goes to `onEnd` instead. */
async function* untilEnd(events: AsyncIterable<AiEvent>, onEnd: (event: AiEvent) => void) {
  for await (const event of events) {
    if (event.type === 'done' || event.type === 'error') {
      onEnd(event);
      return;
    }
    yield event;
  }
}

function endOf(status: JobStatus, error: string | null): AiEventBody {
  const cancelled = status === 'cancelled';
  return {
    type: 'error',
    code: cancelled ? 'cancelled' : 'failed',
    message: cancelled ? 'The job was cancelled.' : (error ?? 'The job failed.'),
    status: cancelled ? 499 : 500,
    partial: false,
  };
}
