import fp from 'fastify-plugin';
import { createDb, type DbHandle } from '../db/index.js';
import { migrateToLatest } from '../db/migrate.js';

declare module 'fastify' {
  interface FastifyInstance {
    database: DbHandle;
  }
}

export interface DatabasePluginOptions {
  /** An open, migrated database the caller owns (tests); otherwise one is opened from config. */
  database?: DbHandle;
}

/**
 * The database, opened, checked and migrated in one place; closed with the app when this
 * plugin opened it. A configured database that does not answer stops the start here.
 */
export const databasePlugin = fp<DatabasePluginOptions>(
  async (app, { database }) => {
    const { config } = app;
    const handle = database ?? createDb(config.database);
    if (!database) {
      try {
        await handle.ping();
        await migrateToLatest(
          handle.db,
          config.database.kind === 'postgres' ? config.database.schema : undefined,
        );
      } catch (error) {
        // A pool left open would keep the process alive after the failed start.
        await handle.close().catch(() => {});
        throw error;
      }
      app.addHook('onClose', () => handle.close());
    }
    app.decorate('database', handle);
  },
  { name: 'database', fastify: '5.x' },
);
