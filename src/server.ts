import cluster from 'node:cluster';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import type { Config } from './config.js';
import { createDb, type DbHandle } from './db/index.js';
import { prettyLogs } from './http/logging.js';

/** The database as a worker of `serve --workers N` opens it: checked, and already migrated. */
async function openMigrated(config: Config): Promise<DbHandle> {
  const handle = createDb(config.database);
  try {
    await handle.ping();
    return handle;
  } catch (error) {
    await handle.close().catch(() => {});
    throw error;
  }
}

/** Builds the app, listens, and closes gracefully on SIGINT/SIGTERM. */
export async function startServer(config: Config): Promise<FastifyInstance> {
  const worker = cluster.isWorker ? cluster.worker : undefined;
  // The primary migrated before forking: N workers starting at once do not each run the migrator.
  const database = worker ? await openMigrated(config) : undefined;
  const logger = {
    level: config.logLevel,
    pretty: prettyLogs(config.env, config.logPretty, process.stdout.isTTY),
  };
  const app = await buildApp({
    config,
    logger,
    ...(database ? { database } : {}),
    ...(worker ? { worker: String(process.pid) } : {}),
  }).catch(async (error: unknown) => {
    await database?.close();
    throw error;
  });
  // Slow or stalled clients must not hold sockets forever.
  app.server.requestTimeout = config.http.requestTimeoutMs;
  app.server.headersTimeout = config.http.headersTimeoutMs;
  app.server.keepAliveTimeout = config.http.keepAliveTimeoutMs;

  let closing = false;
  const close = async (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), config.shutdownTimeoutMs);
    force.unref();
    await app.close();
    // Opened here rather than by the app (a worker's), so closed here, after everything that uses it.
    await database?.close();
    process.exit(0);
  };
  const onSigint = () => void close('SIGINT');
  const onSigterm = () => void close('SIGTERM');
  // A cluster worker can get a signal twice (Ctrl-C reaches the whole process group, and the
  // primary passes it on): the repeat must not kill it mid-shutdown.
  const listen = worker ? process.on.bind(process) : process.once.bind(process);
  listen('SIGINT', onSigint);
  listen('SIGTERM', onSigterm);
  // A server closed by its caller (a test, an embedding program) must not exit the process later.
  app.addHook('onClose', async () => {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
  });

  await app.listen({ host: config.host, port: config.port });
  const where = config.database.kind === 'sqlite' ? config.database.file : 'PostgreSQL';
  app.log.info(
    `Inkstone is running at ${config.publicUrl} (database: ${where}${worker ? `, worker ${worker.id}` : ''})`,
  );
  return app;
}
