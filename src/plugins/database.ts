import fp from 'fastify-plugin';
import type { DbHandle } from '../db/index.js';
import { openDatabase } from '../db/migrate.js';

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
    let handle = database;
    if (!handle) {
      handle = (await openDatabase(app.config.database, { log: app.log })).handle;
      const opened = handle;
      app.addHook('onClose', () => opened.close());
    }
    app.decorate('database', handle);
  },
  { name: 'database', fastify: '5.x' },
);
