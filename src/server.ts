import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import type { Config } from './config.js';

/** Builds the app, listens, and closes gracefully on SIGINT/SIGTERM. */
export async function startServer(config: Config): Promise<FastifyInstance> {
  const app = await buildApp({ config });
  // Slow or stalled clients must not hold sockets forever.
  app.server.requestTimeout = 60_000;
  app.server.headersTimeout = 20_000;
  app.server.keepAliveTimeout = 5_000;

  let closing = false;
  const close = async (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    await app.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void close('SIGINT'));
  process.once('SIGTERM', () => void close('SIGTERM'));

  await app.listen({ host: config.host, port: config.port });
  const where = config.database.kind === 'sqlite' ? config.database.file : 'PostgreSQL';
  app.log.info(`Inkstone is running at ${config.publicUrl} (database: ${where})`);
  return app;
}
