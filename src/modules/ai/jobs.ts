import { createHash, randomUUID } from 'node:crypto';
import { type Clock, isoNow } from '../../clock.js';
import { isUniqueViolation } from '../../db/errors.js';
import type { AiJobRow, JobStatus } from '../../db/types.js';
import { conflict, fieldError, notFound } from '../../errors.js';
import { type Actor, authorize, can } from '../access/permissions.js';
import type { JobRecord, JobsRepository } from './jobs-repository.js';
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

const FINISHED = new Set<JobStatus>(['completed', 'failed', 'cancelled']);

/**
 * Generations submitted as jobs: answered 202 at once, run through the same pipeline as the
 * editor's (limits, cache, coalescing, queue, fallbacks), followed to the end here so that
 * nobody needs to keep a connection open, then reported to an optional signed webhook.
 * In-process: without a Redis-backed queue, a job dies with the process (and says so).
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
    },
  ) {}

  async submit(
    input: JobInput,
    actor: Actor | null,
    idempotencyKey?: string,
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
    const { kind, title, text, instruction, model, regenerate } = input;
    const generation = await this.deps.ai.write(kind, { title, text, instruction }, actor, {
      alias: model,
      fresh: regenerate,
    });
    const now = isoNow(this.deps.clock);
    const id = randomUUID();
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
      if (idempotencyKey && isUniqueViolation(error)) {
        const existing = await this.deps.repo.getByIdempotencyKey(actor.id, idempotencyKey);
        if (existing) return { job: await this.sameJob(existing, hash, actor), created: false };
      }
      throw error;
    }
    const finished = this.finish(id, generation);
    this.finishing.set(id, finished);
    const callbackUrl = input.callbackUrl;
    void finished
      .then(() => (callbackUrl ? this.notify(id, callbackUrl, actor.id) : undefined))
      .catch((error: unknown) => this.deps.log?.warn({ err: error, job: id }, 'job follow-up failed'))
      .finally(() => this.finishing.delete(id));
    return { job: await this.get(id, actor), created: true };
  }

  async get(id: string, actor: Actor | null): Promise<JobView> {
    const job = await this.owned(id, actor);
    return this.view(job);
  }

  /** Stops a running job's model call; a finished job cannot be cancelled (409). */
  async cancel(id: string, actor: Actor | null): Promise<JobView> {
    const job = await this.owned(id, actor);
    if (FINISHED.has(job.status)) {
      throw conflict(`The job is already ${job.status}.`, { id: `already ${job.status}` });
    }
    // Stopping the generation ends follow() with 'cancelled'; a generation not running here
    // (the process restarted) is simply marked.
    const running = this.deps.ai.find(job.generation_id);
    if (running && this.deps.ai.cancel(job.generation_id)) {
      await this.finishing.get(id);
    } else {
      await this.deps.repo.setStatus(id, 'cancelled', isoNow(this.deps.clock), 'cancelled');
    }
    return this.get(id, actor);
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
    if (!FINISHED.has(job.status) && !this.deps.ai.find(job.generation_id)) {
      // Running in a process that is gone: in-process jobs do not survive a restart.
      const error = 'interrupted: the server restarted before the job finished';
      await this.deps.repo.setStatus(id, 'failed', isoNow(this.deps.clock), error);
      return { ...job, status: 'failed', error };
    }
    return job;
  }

  private async view(job: JobRecord): Promise<JobView> {
    const { generation } = job;
    const live = this.deps.ai.find(job.generation_id);
    const output =
      generation?.output ??
      (live?.broadcast.log ?? []).map((e) => (e.type === 'token' ? e.text : '')).join('');
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

  /** Reads the generation to its end (keeping it alive with no HTTP reader) and records how it ended. */
  private async finish(id: string, generation: Generation): Promise<void> {
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
    await this.deps.repo.setStatus(id, status, isoNow(this.deps.clock), error);
  }

  /** Tells the callback URL how the job ended, signed; every attempt is recorded. */
  private async notify(id: string, callbackUrl: string, userId: number): Promise<void> {
    const { repo, webhooks } = this.deps;
    const job = await repo.get(id);
    if (!job) return;
    const result = await webhooks.deliver(
      callbackUrl,
      await this.view(job),
      this.deps.webhookSecret(userId),
      (attempt) =>
        repo.addDelivery({
          job_id: id,
          attempt: attempt.attempt,
          at: attempt.at,
          status: attempt.status,
          error: attempt.error,
          duration_ms: attempt.durationMs,
        }),
    );
    await repo.setWebhookStatus(id, result.delivered ? 'delivered' : 'failed');
    if (!result.delivered)
      this.deps.log?.warn({ job: id, attempts: result.attempts }, 'webhook not delivered');
  }
}
