import { type Static, Type } from 'typebox';
import type { FastifyInstance } from 'fastify';

// Each dependency gets this long to answer a readiness probe: a probe that hangs is worse than
// one that says "not ready" (Kubernetes' default probe timeout is 1 s too).
export const CHECK_TIMEOUT_MS = 1000;

const Check = Type.Object({
  ok: Type.Boolean(),
  ms: Type.Number(),
  error: Type.Optional(Type.String()),
});
type Check = Static<typeof Check>;

const Readiness = Type.Object({
  status: Type.Union([Type.Literal('ready'), Type.Literal('not_ready')]),
  checks: Type.Object({
    db: Check,
    redis: Type.Optional(Check),
    ai: Type.Optional(Check),
  }),
});
type Readiness = Static<typeof Readiness>;

/** Runs one check under the deadline: never throws, never waits longer than `timeoutMs`. */
export async function runCheck(probe: () => Promise<void>, timeoutMs = CHECK_TIMEOUT_MS): Promise<Check> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([probe(), deadline]);
    return { ok: true, ms: elapsed(started) };
  } catch (error) {
    return { ok: false, ms: elapsed(started), error: (error as Error).message || String(error) };
  } finally {
    clearTimeout(timer);
  }
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}

/**
 * `/healthz`: the process is alive and its event loop turns; no dependency is asked, so a
 * database outage does not make an orchestrator restart every instance at once.
 *
 * `/readyz`: whether this instance can serve: the database, Redis when configured, and the
 * model provider when AI is on, each checked at once with a short deadline; 503 when one fails.
 * The model check is the one /admin shows (the provider's model list, /api/tags or /models, and
 * its circuit), never a generation; it passes when any configured provider answers, as the
 * router falls back between them.
 *
 * Both are never cached (the page cache only stores routes marked `pageCache`), never shed under
 * load (src/http/pressure.ts), and log at warn only, so probes every few seconds do not fill the log.
 */
export async function healthRoutes(app: FastifyInstance): Promise<void> {
  const noStore = { 'cache-control': 'no-store' };
  app.get(
    '/healthz',
    {
      logLevel: 'warn',
      schema: { hide: true, response: { 200: Type.Object({ status: Type.Literal('ok') }) } },
    },
    async (_request, reply) => {
      reply.headers(noStore);
      return { status: 'ok' as const };
    },
  );

  app.get(
    '/readyz',
    { logLevel: 'warn', schema: { hide: true, response: { 200: Readiness, 503: Readiness } } },
    async (_request, reply) => {
      const { redis, services, config } = app;
      const [db, redisCheck, ai] = await Promise.all([
        runCheck(() => app.database.ping()),
        redis ? runCheck(async () => void (await redis.ping())) : undefined,
        config.ai.enabled
          ? runCheck(async () => {
              const status = await services.ai.status();
              if (status.providers.some((provider) => provider.ok)) return;
              throw new Error(
                status.providers
                  .map((p) => `${p.name}: ${p.message ?? 'unavailable'} (circuit ${p.circuit})`)
                  .join('; '),
              );
            })
          : undefined,
      ]);
      const checks: Readiness['checks'] = { db };
      if (redisCheck) checks.redis = redisCheck;
      if (ai) checks.ai = ai;
      const ready = Object.values(checks).every((check) => check.ok);
      reply.code(ready ? 200 : 503).headers(noStore);
      return { status: ready ? 'ready' : 'not_ready', checks } satisfies Readiness;
    },
  );
}
