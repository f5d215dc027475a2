import type { Db } from '../../db/index.js';
import type { AiJobRow, GenerationRow, JobStatus, WebhookDeliveryRow } from '../../db/types.js';

export type NewJob = Omit<AiJobRow, 'webhook_status' | 'error' | 'updated_at'> & {
  webhook_status: AiJobRow['webhook_status'];
};

/** A job with its finished generation, when there is one. */
export interface JobRecord extends AiJobRow {
  generation: GenerationRow | undefined;
}

export class JobsRepository {
  constructor(private readonly db: Db) {}

  async create(job: NewJob): Promise<void> {
    await this.db
      .insertInto('ai_jobs')
      .values({ ...job, error: null, updated_at: job.created_at })
      .execute();
  }

  async get(id: string): Promise<JobRecord | undefined> {
    const job = await this.db.selectFrom('ai_jobs').selectAll().where('id', '=', id).executeTakeFirst();
    if (!job) return undefined;
    const generation = await this.db
      .selectFrom('generations')
      .selectAll()
      .where('id', '=', job.generation_id)
      .executeTakeFirst();
    return { ...job, generation };
  }

  getByIdempotencyKey(userId: number, key: string): Promise<AiJobRow | undefined> {
    return this.db
      .selectFrom('ai_jobs')
      .selectAll()
      .where('user_id', '=', userId)
      .where('idempotency_key', '=', key)
      .executeTakeFirst();
  }

  /** A user's jobs (or everyone's), newest first, with their outputs. */
  async list(options: { userId?: number; limit: number; offset: number }) {
    let query = this.db
      .selectFrom('ai_jobs')
      .leftJoin('generations', 'generations.id', 'ai_jobs.generation_id')
      .innerJoin('users', 'users.id', 'ai_jobs.user_id')
      .select([
        'ai_jobs.id',
        'ai_jobs.kind',
        'ai_jobs.status',
        'ai_jobs.error',
        'ai_jobs.created_at',
        'ai_jobs.webhook_status',
        'generations.output',
        'generations.model',
        'users.username',
      ]);
    if (options.userId !== undefined) query = query.where('ai_jobs.user_id', '=', options.userId);
    return query
      .orderBy('ai_jobs.created_at', 'desc')
      .orderBy('ai_jobs.id')
      .limit(options.limit)
      .offset(options.offset)
      .execute();
  }

  async setStatus(id: string, status: JobStatus, at: string, error: string | null = null): Promise<void> {
    await this.db
      .updateTable('ai_jobs')
      .set({ status, error, updated_at: at })
      .where('id', '=', id)
      .execute();
  }

  /**
   * Ends a job that has not ended yet; false when it had (a cancel and the worker's own end
   * race for it: whoever wins sends the webhook).
   */
  async finish(id: string, status: JobStatus, at: string, error: string | null): Promise<boolean> {
    const result = await this.db
      .updateTable('ai_jobs')
      .set({ status, error, updated_at: at })
      .where('id', '=', id)
      .where('status', 'in', ['queued', 'running'])
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** A worker started the job's generation (again, after a crash); false when the job has ended. */
  async start(id: string, generationId: string, at: string): Promise<boolean> {
    const result = await this.db
      .updateTable('ai_jobs')
      .set({ status: 'running', generation_id: generationId, updated_at: at })
      .where('id', '=', id)
      .where('status', 'in', ['queued', 'running'])
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** A job that could not be queued: gone, so that a retry with its Idempotency-Key makes it anew. */
  async delete(id: string): Promise<void> {
    await this.db.deleteFrom('ai_jobs').where('id', '=', id).execute();
  }

  async setWebhookStatus(id: string, status: NonNullable<AiJobRow['webhook_status']>): Promise<void> {
    await this.db.updateTable('ai_jobs').set({ webhook_status: status }).where('id', '=', id).execute();
  }

  async addDelivery(row: WebhookDeliveryRow): Promise<void> {
    await this.db.insertInto('webhook_deliveries').values(row).execute();
  }

  deliveries(jobId: string): Promise<WebhookDeliveryRow[]> {
    return this.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('job_id', '=', jobId)
      .orderBy('attempt')
      .execute();
  }
}
