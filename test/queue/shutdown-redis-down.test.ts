import { afterAll, describe, expect, it } from 'vitest';
import { createTestApp } from '../helpers/app.js';
import { type OwnRedis, startOwnRedis, testPrefix } from '../helpers/redis.js';

// Shutting down must never hang on a dependency: with Redis gone, the web process's job
// workers (BullMQ) are stopped within the shutdown budget rather than waiting for a Redis
// that does not answer.

let redis: OwnRedis | undefined;
afterAll(async () => {
  await redis?.stop();
});

describe('closing the app while Redis is down', () => {
  it('finishes within the shutdown budget', { timeout: 30_000 }, async () => {
    redis = await startOwnRedis();
    if (!redis) return;
    const t = await createTestApp('sqlite', {
      REDIS_URL: redis.url,
      REDIS_PREFIX: testPrefix(),
      SHUTDOWN_TIMEOUT_MS: '4000',
    });
    await redis.stop();
    // Long enough for the clients to be in their reconnect loops.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const started = Date.now();
    await t.close();
    // Half the budget for running jobs, then a short wait for BullMQ before giving up on it.
    expect(Date.now() - started).toBeLessThan(2000 + 3000);
  });
});
