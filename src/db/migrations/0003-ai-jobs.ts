import { type Kysely, sql } from 'kysely';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a migration must not depend on the app's current types
type AnyDb = Kysely<any>;

/**
 * Generations submitted as jobs (POST /api/v1/ai/generations): their state while they run,
 * the idempotency key that makes a retried submission the same job, and each webhook
 * delivery attempt. The finished answer itself is the `generations` row it points to.
 */
export async function up(db: AnyDb): Promise<void> {
  await db.schema
    .createTable('ai_jobs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    // Not the job's own id: identical jobs running together share one generation (coalescing).
    .addColumn('generation_id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) =>
      c.notNull().check(sql`status in ('queued', 'running', 'completed', 'failed', 'cancelled')`),
    )
    .addColumn('request', 'text', (c) => c.notNull())
    .addColumn('request_hash', 'text', (c) => c.notNull())
    .addColumn('idempotency_key', 'text')
    .addColumn('callback_url', 'text')
    .addColumn('webhook_status', 'text')
    .addColumn('error', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('ai_jobs_idempotency')
    .unique()
    .on('ai_jobs')
    .columns(['user_id', 'idempotency_key'])
    .execute();
  await db.schema
    .createIndex('ai_jobs_user_created')
    .on('ai_jobs')
    .columns(['user_id', 'created_at'])
    .execute();

  await db.schema
    .createTable('webhook_deliveries')
    .addColumn('job_id', 'text', (c) => c.notNull().references('ai_jobs.id').onDelete('cascade'))
    .addColumn('attempt', 'integer', (c) => c.notNull())
    .addColumn('at', 'text', (c) => c.notNull())
    .addColumn('status', 'integer')
    .addColumn('error', 'text')
    .addColumn('duration_ms', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('webhook_deliveries_pk', ['job_id', 'attempt'])
    .execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.dropTable('webhook_deliveries').execute();
  await db.schema.dropTable('ai_jobs').execute();
}
