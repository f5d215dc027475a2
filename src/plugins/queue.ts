import fp from 'fastify-plugin';
import { startJobWorkers } from '../queue/start.js';

/**
 * With Redis, the web process runs queued AI jobs itself too (AI_WEB_WORKER_CONCURRENCY of
 * them, by default as many as one `inkstone worker`), so one `inkstone serve` and a Redis
 * complete jobs with nothing else running; 0 leaves them to `inkstone worker` processes.
 */
export const queuePlugin = fp(
  async (app) => {
    const { redis, config, services } = app;
    const concurrency = config.jobs.webWorkerConcurrency;
    if (!redis || !services.jobRunner) return;
    if (concurrency === 0) {
      app.log.info('AI jobs are queued for `inkstone worker` processes (AI_WEB_WORKER_CONCURRENCY=0)');
      return;
    }
    const workers = await startJobWorkers(redis, services.jobRunner, config, concurrency, app.log);
    // Half the shutdown budget for running jobs to finish; the rest hands them back.
    app.addHook('onClose', () => workers.close(config.shutdownTimeoutMs / 2));
  },
  { name: 'queue', dependencies: ['redis', 'services'], fastify: '5.x' },
);
