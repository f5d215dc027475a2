import { type Kysely, sql } from 'kysely';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a migration must not depend on the app's current types
type AnyDb = Kysely<any>;

/** One row per AI generation: who asked what, which model answered, how fast, how it ended. */
export async function up(db: AnyDb): Promise<void> {
  await db.schema
    .createTable('generations')
    // A random id: it is shown to clients (SSE streams, the OpenAI door) before the row is written.
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'integer', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('alias', 'text', (c) => c.notNull())
    .addColumn('model', 'text')
    .addColumn('provider', 'text')
    .addColumn('status', 'text', (c) =>
      c.notNull().check(sql`status in ('completed', 'failed', 'cancelled')`),
    )
    .addColumn('cached', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('prompt', 'text', (c) => c.notNull())
    .addColumn('params', 'text', (c) => c.notNull())
    .addColumn('output', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('attempts', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('tokens_in', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('tokens_out', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('ttft_ms', 'integer')
    .addColumn('duration_ms', 'integer', (c) => c.notNull())
    .addColumn('error', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('generations_user_created')
    .on('generations')
    .columns(['user_id', 'created_at'])
    .execute();
  await db.schema.createIndex('generations_created').on('generations').column('created_at').execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.dropTable('generations').execute();
}
