import type { FastifyInstance } from 'fastify';

declare module 'fastify' {
  interface FastifyRequest {
    /** performance.now() when the request reached Fastify's first hook. */
    receivedAt: number;
  }
}

/**
 * The headers every response Fastify sends carries, in one onSend hook: its request id,
 * `Server-Timing: total;dur=<ms>` and the original design's `X-Process-Time: <seconds>`. The time runs from the first onRequest hook (this one is added before
 * the session lookup and load shedding) to onSend, so serialization is in and writing the body
 * out is not. Not Fastify's `reply.elapsedTime`: it is 0 unless a logger or an onResponse hook
 * is on.
 *
 * Not on front-door hits (src/http/front-door.ts), which never reach Fastify: see the README's
 * "Health, logs and dashboards". Not on hijacked replies (event streams write their own head).
 */
export function registerResponseHeaders(app: FastifyInstance): void {
  app.decorateRequest('receivedAt', 0);
  app.addHook('onRequest', (request, _reply, done) => {
    request.receivedAt = performance.now();
    done();
  });
  // A callback hook, not an async one: no promise and microtask on every response.
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id);
    const ms = performance.now() - request.receivedAt;
    reply.header('server-timing', `total;dur=${ms.toFixed(3)}`);
    reply.header('x-process-time', (ms / 1000).toFixed(6));
    done(null, payload);
  });
}
