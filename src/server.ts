import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import type { Config } from './config.js';

/** Builds the app, listens, and closes gracefully on SIGINT/SIGTERM. */
export async function startServer(config: Config): Promise<FastifyInstance> {
  const app = await buildApp({ config });
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
    process.exit(0);
  };
  const onSigint = () => void close('SIGINT');
  const onSigterm = () => void close('SIGTERM');
  process.once('SIGINT', onSigint);
  process.once('SIGTERM', onSigterm);
  // A server closed by its caller (a test, an embedding program) must not exit the process later.
  app.addHook('onClose', async () => {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
  });

  await app.listen({ host: config.host, port: config.port });
  const where = config.database.kind === 'sqlite' ? config.database.file : 'PostgreSQL';
  app.log.info(`Inkstone is running at ${config.publicUrl} (database: ${where})`);
  return app;
}
