import fp from 'fastify-plugin';
import type * as IORedis from 'ioredis';
import type { Redis, RedisOptions } from 'ioredis';
import { lazyRequire } from '../lazy-require.js';

const ioredis = lazyRequire<typeof IORedis>('ioredis');

declare module 'fastify' {
  interface FastifyInstance {
    /** The shared Redis when REDIS_URL is set; undefined means every instance keeps its own state. */
    redis: Redis | undefined;
  }
}

// A configured Redis that has not answered by then stops the start, like a database that
// does not answer: a server that accepts the connection and never replies would otherwise
// hold the start forever (ioredis's connectTimeout ends at the TCP connect, not at ready).
const CONNECT_DEADLINE_MS = 5000;

/** The URL without its password, for messages that reach the logs. */
export function redactRedisUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

/**
 * A client whose commands fail at once while Redis is away instead of waiting for it:
 * nothing is queued while disconnected (enableOfflineQueue), and a command in flight when
 * the connection drops is failed rather than resent after the reconnect
 * (maxRetriesPerRequest 0). Callers fall back (see src/modules/ai/redis-fallback.ts).
 * ioredis keeps reconnecting on its own (retryStrategy: its default backoff, capped at 2 s).
 * BullMQ workers need the opposite (they block and must wait), so they take
 * `client.duplicate({ maxRetriesPerRequest: null, enableOfflineQueue: true })`.
 */
export function createRedisClient(url: string, options: RedisOptions = {}): Redis {
  return new (ioredis().Redis)(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: CONNECT_DEADLINE_MS,
    ...options,
  });
}

/** Connects and checks the server answers, or throws a sentence naming the URL and the cause. */
export async function connectRedis(
  client: Redis,
  url: string,
  deadlineMs = CONNECT_DEADLINE_MS,
): Promise<void> {
  let lastError: Error | undefined;
  const remember = (error: Error) => (lastError = error);
  client.on('error', remember);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.connect().then(() => client.ping()),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${deadlineMs} ms`)), deadlineMs);
      }),
    ]);
  } catch (error) {
    client.disconnect();
    // ioredis rejects connect() with "Connection is closed."; the 'error' event names the cause.
    const reason = (lastError ?? (error as Error)).message;
    throw new Error(
      `Redis at ${redactRedisUrl(url)} is unreachable: ${reason}. Start it, or unset REDIS_URL to run without it.`,
      { cause: error },
    );
  } finally {
    clearTimeout(timer);
    client.off('error', remember);
  }
}

/**
 * QUIT lets the answers in flight arrive; a Redis that is away or does not answer gets a
 * plain disconnect after a second, so closing the app never waits on it.
 */
export async function closeRedis(client: Redis): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    client.quit().catch(() => {}),
    new Promise((resolve) => (timer = setTimeout(resolve, 1000))),
  ]);
  clearTimeout(timer);
  client.disconnect();
}

/**
 * Redis, opened in one place when REDIS_URL is set, checked at start and closed with the
 * app. Once started, a lost connection does not stop the app: ioredis reconnects, and what
 * uses Redis falls back meanwhile.
 */
export const redisPlugin = fp(
  async (app) => {
    const url = app.config.redis?.url;
    if (!url) {
      app.decorate('redis', undefined);
      return;
    }
    const client = createRedisClient(url);
    await connectRedis(client, url);
    // Every reconnect attempt emits 'error'; without a listener ioredis prints each one. The
    // outage itself is reported once, by whatever falls back (redis-fallback.ts).
    client.on('error', (error: Error) => app.log.debug({ err: error }, 'Redis connection error'));
    app.addHook('onClose', () => closeRedis(client));
    app.decorate('redis', client);
  },
  { name: 'redis', fastify: '5.x' },
);
