import { createHash, randomUUID } from 'node:crypto';
import type { Context } from '@opentelemetry/api';
import { type Clock, isoNow } from '../../clock.js';
import type { JobPeers } from '../../cluster-jobs.js';
import { isUniqueViolation } from '../../db/errors.js';
import type { AiJobRow, JobStatus } from '../../db/types.js';
import { AppError, conflict, fieldError, notFound } from '../../errors.js';
import { activeTraceparent } from '../../tracing/propagation.js';
import { type Actor, authorize, can } from '../access/permissions.js';
import type { AiEvent } from './broadcast.js';
import type { RedisEventStream } from './event-stream.js';
import type { JobRecord, JobsRepository } from './jobs-repository.js';
import type { UsageLimiter } from './limiter.js';
import { admitJob } from './job-admission.js';
import type { AiKind } from './prompts.js';
import type { AiService, Generation } from './service.js';
import type { DeliveryAttempt, DeliveryResult } from './webhooks.js';

/** What jobs need of the webhook sender (src/modules/ai/webhooks.ts). */
export interface WebhookPort {
  /** A sentence naming what is wrong with a callback URL, or null. */
  check(url: string): string | null;
  deliver(
    url: string,
    payload: object,
    secret: string,
    onAttempt: (attempt: DeliveryAttempt) => Promise<void> | void,
    signal?: AbortSignal,
    id?: string,
    trace?: Context,
  ): Promise<DeliveryResult>;
}

export interface JobInput {
  kind: AiKind;
  title?: string;
  text?: string;
  instruction?: string;
  model?: string;
  regenerate?: boolean;
  callbackUrl?: string;
}

export interface JobView {
  id: string;
  kind: string;
  status: JobStatus;
  output: string;
  model: string | null;
  usage: { promptTokens: number; completionTokens: number } | null;
  ttftMs: number | null;
  durationMs: number | null;
  error: string | null;
  createdAt: string;
  updatedAt: string;
  /** Where the stream is: GET it with Last-Event-ID to resume. */
  events: string;
  callbackUrl: string | null;
  webhook: { status: string; attempts: DeliveryAttempt[] } | null;
}

export const FINISHED = new Set<JobStatus>(['completed', 'failed', 'cancelled']);

/** What jobs need of the BullMQ queue (src/queue/bullmq.ts); its methods throw when Redis is away. */
export interface QueuePort {
  /** `traceparent`: the submitting request's trace, which the worker running the job continues. */
  add(jobId: string, traceparent?: string): Promise<void>;
  remove(jobId: string): Promise<boolean>;
  cancel(jobId: string): Promise<void>;
  state(jobId: string): Promise<{ state: string; reason?: string }>;
}

/**
 * With Redis: jobs are queued and run by workers (JobRunner) on any machine; their events
 * come back through Redis Streams. The limit is taken here, at submit, so that a client over
 * it hears 429 at once rather than a job failing later; the worker runs the rest of the
 * same pipeline with `limitTaken`.
 */
export interface DurableJobs {
  queue: QueuePort;
  events: RedisEventStream;
  limiter: UsageLimiter;
  /** AI_PROVIDER is not `none`. */
  aiEnabled: boolean;
}

// Longer than a submission can take between its row and its place in the queue (the add's
// deadline is 2 s).
const JUST_SUBMITTED_MS = 10_000;

// As long as AiService keeps a finished generation for a resume (its RESUME_MS).
const RESUME_WINDOW_MS = 60_000;

// A cancel relayed to the worker running the job waits this long for its end to be written.
const CANCEL_WAIT_MS = 5000;

const INTERRUPTED = 'interrupted: the server restarted before the job finished';
const WORKER_LOST = 'interrupted: the worker running the job stopped before it finished';

const QUEUE_DOWN = 'The job queue is unavailable (Redis is not answering); try again shortly.';

/**
 * Generations submitted as jobs: answered 202 at once, run through the same pipeline as the
 * editor's (limits, cache, coalescing, queue, fallbacks), followed to the end so that nobody
 * needs to keep a connection open, then reported to an optional signed webhook.
 * With `durable` (Redis): queued in BullMQ and run by a worker, possibly on another machine
 * (see job-runner.ts). Without: run in this process at once, and a job dies with the process
 * (it is reported as failed, "interrupted", when next read). With `peers` (the workers of
 * `serve --workers N` without Redis, src/cluster-jobs.ts): the primary knows which worker runs
 * a job, so any worker reads, cancels and follows it, and only a dead worker's jobs are
 * interrupted.
 */
export class JobsService {
  /** Each running job's end (its final status written), so cancel() can wait for it. */
  private readonly finishing = new Map<string, Promise<void>>();

  constructor(
    private readonly deps: {
      ai: AiService;
      repo: JobsRepository;
      webhooks: WebhookPort;
      /** The secret a user's webhooks are signed with. */
      webhookSecret: (userId: number) => string;
      clock: Clock;
      log?: { warn(object: object, message: string): void };
      durable?: DurableJobs;
      peers?: JobPeers;
    },
  ) {
    deps.peers?.serve({
      cancel: (id) => this.cancelHere(id),
      log: (id) => this.runningHere(id)?.broadcast.log,
      follow: (id, lastEventId, signal) =>
        this.runningHere(id)?.broadcast.subscribe(signal, lastEventId, { passive: true }),
    });
  }

  /** Generations of jobs this process runs (or ran, within the resume window), by job id. */
  private readonly generations = new Map<string, string>();

  private runningHere(id: string): Generation | undefined {
    const generation = this.generations.get(id);
    return generation === undefined ? undefined : this.deps.ai.find(generation);
  }

  async submit(
    input: JobInput,
    actor: Actor | null,
    idempotencyKey?: string,
    /** The submitting request's trace: the job's model call and webhook carry it on. */
    trace?: Context,
  ): Promise<{ job: JobView; created: boolean }> {
    authorize(actor, 'ai:use');
    if (input.callbackUrl !== undefined) {
      const problem = this.deps.webhooks.check(input.callbackUrl);
      if (problem) throw fieldError('callbackUrl', problem);
    }
    const request = JSON.stringify(input, Object.keys(input).sort());
    const hash = createHash('sha256').update(request).digest('hex');
    if (idempotencyKey) {
      const existing = await this.deps.repo.getByIdempotencyKey(actor.id, idempotencyKey);
      if (existing) return { job: await this.sameJob(existing, hash, actor), created: false };
    }
    if (this.deps.durable)
      return this.enqueue(this.deps.durable, input, actor, request, hash, idempotencyKey, trace);
    const { kind, title, text, instruction, model, regenerate } = input;
    const generation = await this.deps.ai.write(kind, { title, text, instruction }, actor, {
      alias: model,
      fresh: regenerate,
      trace,
    });
    const now = isoNow(this.deps.clock);
    const id = randomUUID();
    // Claimed before the row exists: a worker that reads the row finds its owner registered.
    const { peers } = this.deps;
    if (peers) {
      try {
        await peers.claim(id);
      } catch (error) {
        this.deps.ai.cancel(generation.id);
        this.deps.log?.warn({ err: error, job: id }, 'the cluster primary did not register a job');
        // The primary is busy or restarting: a retry soon will likely be registered.
        throw new AppError(
          503,
          'cluster_unavailable',
          'The server could not register the job with its other workers; try again in a few seconds.',
          undefined,
          { 'retry-after': '2' },
        );
      }
    }
    try {
      await this.deps.repo.create({
        id,
        generation_id: generation.id,
        user_id: actor.id,
        kind,
        status: 'running',
        request,
        request_hash: hash,
        idempotency_key: idempotencyKey ?? null,
        callback_url: input.callbackUrl ?? null,
        webhook_status: input.callbackUrl ? 'pending' : null,
        created_at: now,
      });
    } catch (error) {
      // The same key submitted twice at once: the other request made the job.
      peers?.release(id);
      if (idempotencyKey && isUniqueViolation(error)) {
        const existing = await this.deps.repo.getByIdempotencyKey(actor.id, idempotencyKey);
        if (existing) return { job: await this.sameJob(existing, hash, actor), created: false };
      }
      throw error;
    }
    this.generations.set(id, generation.id);
    const finished = this.finish(id, generation, trace)
      .catch((error: unknown) => this.deps.log?.warn({ err: error, job: id }, 'job follow-up failed'))
      .finally(() => {
        this.finishing.delete(id);
        // After its end is written: a worker that then finds it unclaimed reads that end.
        peers?.release(id);
        this.forgetLater(id);
      });
    this.finishing.set(id, finished);
    return { job: await this.get(id, actor), created: true };
  }

  /** The row first (a worker may take the job the moment it is queued), then the queue. */
  private async enqueue(
    durable: DurableJobs,
    input: JobInput,
    actor: Actor,
    request: string,
    hash: string,
    idempotencyKey: string | undefined,
    trace: Context | undefined,
  ): Promise<{ job: JobView; created: boolean }> {
    await admitJob(input, actor, { ...durable, models: this.deps.ai.models().map((m) => m.id) });
    const id = randomUUID();
    try {
      await this.deps.repo.create({
        id,
        // None yet: the worker names the generation when it starts one.
        generation_id: '',
        user_id: actor.id,
        kind: input.kind,
        status: 'queued',
        request,
        request_hash: hash,
        idempotency_key: idempotencyKey ?? null,
        callback_url: input.callbackUrl ?? null,
        webhook_status: input.callbackUrl ? 'pending' : null,
        created_at: isoNow(this.deps.clock),
      });
    } catch (error) {
      if (idempotencyKey && isUniqueViolation(error)) {
        const existing = await this.deps.repo.getByIdempotencyKey(actor.id, idempotencyKey);
        if (existing) return { job: await this.sameJob(existing, hash, actor), created: false };
      }
      throw error;
    }
    try {
      await durable.queue.add(id, activeTraceparent(trace));
    } catch (error) {
      await this.deps.repo.delete(id);
      this.deps.log?.warn({ err: error, job: id }, 'could not queue a job');
      throw new AppError(503, 'queue_unavailable', QUEUE_DOWN, undefined, { 'retry-after': '5' });
    }
    return { job: await this.get(id, actor), created: true };
  }

  async get(id: string, actor: Actor | null): Promise<JobView> {
    const job = await this.owned(id, actor);
    return this.view(job);
  }

  /** Stops a running job's model call; a finished job cannot be cancelled (409). */
  async cancel(id: string, actor: Actor | null, trace?: Context): Promise<JobView> {
    const job = await this.owned(id, actor);
    if (FINISHED.has(job.status)) {
      throw conflict(`The job is already ${job.status}.`, { id: `already ${job.status}` });
    }
    if (this.deps.durable) {
      await this.cancelQueued(this.deps.durable, job, trace);
      return this.get(id, actor);
    }
    // Stopping the generation ends follow() with 'cancelled'; a generation not running here
    // (the process restarted) is simply marked. In a cluster, the worker running it stops it.
    const running = this.deps.ai.find(job.generation_id);
    if (running && this.deps.ai.cancel(job.generation_id)) {
      await this.finishing.get(id);
    } else if (!running && this.deps.peers && (await this.deps.peers.cancel(id).catch(() => false))) {
      // Its worker has written the end (or is about to, past the wait).
    } else {
      await this.deps.repo.finish(id, 'cancelled', isoNow(this.deps.clock), 'cancelled');
    }
    return this.get(id, actor);
  }

  /** A cancel relayed from another worker, for a job running here. */
  private async cancelHere(id: string): Promise<void> {
    const generation = this.generations.get(id);
    if (generation === undefined || !this.deps.ai.cancel(generation)) {
      await this.deps.repo.finish(id, 'cancelled', isoNow(this.deps.clock), 'cancelled');
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.finishing.get(id),
      new Promise((resolve) => (timer = setTimeout(resolve, CANCEL_WAIT_MS))),
    ]);
    clearTimeout(timer);
  }

  /** Kept as long as the generation is (its resume window), so it can still be followed here. */
  private forgetLater(id: string): void {
    const timer = setTimeout(() => this.generations.delete(id), RESUME_WINDOW_MS);
    timer.unref();
  }

  /**
   * Marked here at once (so the answer already says cancelled), then taken off the queue if
   * no worker has it yet, else stopped by the worker that runs it, whose model call ends.
   */
  private async cancelQueued(durable: DurableJobs, job: JobRecord, trace?: Context): Promise<void> {
    const won = await this.deps.repo.finish(job.id, 'cancelled', isoNow(this.deps.clock), 'cancelled');
    try {
      if (await durable.queue.remove(job.id)) {
        // Nobody will write this job's stream again: end it for whoever reads it.
        await durable.events.append(job.id, [CANCELLED]);
      } else {
        await durable.queue.cancel(job.id);
      }
    } catch (error) {
      // Marked cancelled all the same: a worker that takes it checks first.
      this.deps.log?.warn({ err: error, job: job.id }, 'could not reach the queue to cancel a job');
    }
    if (won && job.callback_url) await this.notify(job.id, job.callback_url, job.user_id, trace);
  }

  /**
   * Records how a job ended and sends its webhook, unless it had ended already (see end). The
   * webhook carries `trace` on (the job's, where it is known), or a trace of its own.
   */
  async settle(id: string, status: JobStatus, error: string | null, trace?: Context): Promise<boolean> {
    const won = await this.end(id, status, error);
    if (won) await this.report(id, trace);
    return won;
  }

  /**
   * Records how a job ended unless it already had: false when a cancel (or another worker)
   * got there first. Whoever ends a job reports it, once.
   */
  end(id: string, status: JobStatus, error: string | null): Promise<boolean> {
    return this.deps.repo.finish(id, status, isoNow(this.deps.clock), error);
  }

  /** Sends an ended job's webhook, if it has one; a failure is logged, not thrown. */
  async report(id: string, trace?: Context): Promise<void> {
    const job = await this.deps.repo.get(id);
    if (!job?.callback_url) return;
    await this.notify(id, job.callback_url, job.user_id, trace).catch((caught: unknown) =>
      this.deps.log?.warn({ err: caught, job: id }, 'webhook follow-up failed'),
    );
  }

  /**
   * A queued job's events from the Redis stream, after `lastEventId` and then live, on any
   * instance; undefined without Redis (the generation is then in this process's memory), and
   * for an ended job whose stream has expired (GET the job for its answer).
   */
  async relay(
    id: string,
    lastEventId: number,
  ): Promise<((signal: AbortSignal) => AsyncIterable<AiEvent>) | undefined> {
    const durable = this.deps.durable;
    if (!durable) return this.relayFromPeer(id, lastEventId);
    const job = await this.deps.repo.get(id);
    if (job && FINISHED.has(job.status) && (await durable.events.lastId(id).catch(() => -1)) < 0) {
      return undefined;
    }
    return (signal) => durable.events.subscribe(id, signal, lastEventId);
  }

  /**
   * A job running in another worker of the cluster (or ended there within the resume window):
   * its events from that worker's memory, through the primary.
   */
  private async relayFromPeer(
    id: string,
    lastEventId: number,
  ): Promise<((signal: AbortSignal) => AsyncIterable<AiEvent>) | undefined> {
    const { peers } = this.deps;
    if (!peers || this.runningHere(id)) return undefined;
    const job = await this.deps.repo.get(id);
    if (!job || this.deps.ai.find(job.generation_id)) return undefined;
    return peers.follow(id, lastEventId);
  }

  async list(actor: Actor | null, options: { all: boolean; limit: number; offset: number }) {
    authorize(actor, 'ai:use');
    const everyone = options.all && can(actor, 'user:manage');
    const rows = await this.deps.repo.list({
      userId: everyone ? undefined : actor.id,
      limit: options.limit,
      offset: options.offset,
    });
    return { everyone, items: rows };
  }

  /** The generation a job id stands for (the events stream takes either). */
  async generationOf(id: string): Promise<string | undefined> {
    return (await this.deps.repo.get(id))?.generation_id;
  }

  private async sameJob(existing: AiJobRow, hash: string, actor: Actor): Promise<JobView> {
    if (existing.request_hash !== hash) {
      throw conflict('This Idempotency-Key was used for a different request.', {
        'Idempotency-Key': 'used for a different request',
      });
    }
    return this.get(existing.id, actor);
  }

  private async owned(id: string, actor: Actor | null): Promise<JobRecord> {
    authorize(actor, 'ai:use');
    const job = await this.deps.repo.get(id);
    if (!job || (job.user_id !== actor.id && !can(actor, 'user:manage'))) throw notFound('Generation');
    if (FINISHED.has(job.status)) return job;
    if (this.deps.durable) return this.reconciled(this.deps.durable, job);
    if (this.deps.ai.find(job.generation_id)) return job;
    if (this.deps.peers) return this.located(this.deps.peers, job);
    // Running in a process that is gone: in-process jobs do not survive a restart.
    await this.deps.repo.setStatus(id, 'failed', isoNow(this.deps.clock), INTERRUPTED);
    return { ...job, status: 'failed', error: INTERRUPTED };
  }

  /**
   * A job not running in this worker: another live worker may run it. Only when the primary
   * says none does (its worker died, or the whole server restarted) is it interrupted; with no
   * answer it is left as it is.
   */
  private async located(peers: JobPeers, job: JobRecord): Promise<JobRecord> {
    if ((await peers.whereIs(job.id)) !== 'gone') return job;
    // Its worker writes the end before releasing it: read again, then fail it only if unended.
    await this.deps.repo.finish(job.id, 'failed', isoNow(this.deps.clock), WORKER_LOST);
    return (await this.deps.repo.get(job.id)) ?? job;
  }

  /**
   * An unfinished job BullMQ has given up on (or lost) without a worker recording it — the
   * worker died as it failed it — is failed here, so no job stays "running" for ever.
   */
  private async reconciled(durable: DurableJobs, job: JobRecord): Promise<JobRecord> {
    const { state, reason } = await durable.queue
      .state(job.id)
      .catch((): { state: string; reason?: string } => ({ state: 'unreachable' }));
    if (state !== 'failed' && state !== 'unknown') return job;
    // Not in the queue yet: its submission is between writing the row and adding it.
    const age = this.deps.clock.now().getTime() - Date.parse(job.updated_at);
    if (state === 'unknown' && job.status === 'queued' && age < JUST_SUBMITTED_MS) return job;
    const error = `worker_lost: ${reason ?? 'the job is no longer in the queue'}`;
    if (await this.settle(job.id, 'failed', error)) {
      await durable.events.append(job.id, [{ ...LOST, message: error }]).catch(() => undefined);
    }
    return (await this.deps.repo.get(job.id)) ?? job;
  }

  private async view(job: JobRecord): Promise<JobView> {
    const { generation } = job;
    const live = this.deps.ai.find(job.generation_id)?.broadcast.log;
    // While it runs, the answer so far: in memory here, in the job's stream (any worker), or
    // in the memory of the cluster's worker that runs it.
    const unfinished = !FINISHED.has(job.status);
    const events =
      live ??
      (this.deps.durable && unfinished
        ? await this.streamed(job.id)
        : this.deps.peers && unfinished
          ? ((await this.deps.peers.log(job.id)) ?? [])
          : []);
    const output = generation?.output ?? answerSoFar(events);
    const webhook = job.callback_url
      ? {
          status: job.webhook_status ?? 'pending',
          attempts: (await this.deps.repo.deliveries(job.id)).map((d) => ({
            attempt: d.attempt,
            at: d.at,
            status: d.status,
            error: d.error,
            durationMs: d.duration_ms,
          })),
        }
      : null;
    return {
      id: job.id,
      kind: job.kind,
      status: job.status,
      output,
      model: generation?.model ?? null,
      usage: generation
        ? { promptTokens: generation.tokens_in, completionTokens: generation.tokens_out }
        : null,
      ttftMs: generation?.ttft_ms ?? null,
      durationMs: generation?.duration_ms ?? null,
      error: job.error,
      createdAt: job.created_at,
      updatedAt: job.updated_at,
      events: `/api/v1/ai/generations/${job.id}/events`,
      callbackUrl: job.callback_url,
      webhook,
    };
  }

  private streamed(id: string): Promise<readonly AiEvent[]> {
    return this.deps.durable!.events.read(id).catch(() => []);
  }

  /** Reads the generation to its end (keeping it alive with no HTTP reader) and records how it ended. */
  private async finish(id: string, generation: Generation, trace?: Context): Promise<void> {
    let status: JobStatus = 'failed';
    let error: string | null = 'the generation ended without an answer';
    for await (const event of generation.broadcast.subscribe()) {
      if (event.type === 'done') [status, error] = ['completed', null];
      if (event.type === 'error') {
        status = event.code === 'cancelled' ? 'cancelled' : 'failed';
        error = `${event.code}: ${event.message}`;
      }
    }
    await generation.settled;
    await this.settle(id, status, error, trace);
  }

  /** Tells the callback URL how the job ended, signed; every attempt is recorded. */
  async notify(id: string, callbackUrl: string, userId: number, trace?: Context): Promise<void> {
    const { repo, webhooks } = this.deps;
    const job = await repo.get(id);
    if (!job) return;
    // Numbered on after earlier attempts: a report sent again (its worker died) keeps them.
    const earlier = (await repo.deliveries(id)).length;
    const result = await webhooks.deliver(
      callbackUrl,
      await this.view(job),
      this.deps.webhookSecret(userId),
      (attempt) =>
        repo.addDelivery({
          job_id: id,
          attempt: earlier + attempt.attempt,
          at: attempt.at,
          status: attempt.status,
          error: attempt.error,
          duration_ms: attempt.durationMs,
        }),
      undefined,
      // One event per job (its end): the job's id, so a report sent again is a known repeat.
      id,
      trace,
    );
    await repo.setWebhookStatus(id, result.delivered ? 'delivered' : 'failed');
    if (!result.delivered)
      this.deps.log?.warn({ job: id, attempts: result.attempts }, 'webhook not delivered');
  }
}

const CANCELLED = {
  type: 'error',
  code: 'cancelled',
  message: 'The job was cancelled.',
  status: 499,
  partial: false,
} as const;

const LOST = { type: 'error', code: 'worker_lost', status: 500, partial: false } as const;

/** The tokens since the last start: a generation started again after a crash begins anew. */
function answerSoFar(events: readonly AiEvent[]): string {
  let text = '';
  for (const event of events) {
    if (event.type === 'start') text = '';
    else if (event.type === 'token') text += event.text;
  }
  return text;
}
