import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { closeRedis } from '../../src/plugins/redis.js';
import type { ServiceOverrides } from '../../src/services.js';
import { Client, createSecondApp, createTestApp, createUser } from '../helpers/app.js';
import {
  connectTestRedis,
  deleteKeys,
  REDIS_URL,
  redisAvailable,
  startOwnRedis,
  testPrefix,
} from '../helpers/redis.js';

// Two Inkstone instances over one database and one Redis, as behind a load balancer: failed
// sign-ins through either count against one limit, and a session made on one works on the other.

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function twoInstances(env: Record<string, string>, overrides: ServiceOverrides = {}) {
  const full = { REDIS_PREFIX: testPrefix(), LOGIN_MAX_PER_IP: '1000', ...env };
  const first = await createTestApp('sqlite', full, overrides);
  cleanup.push(() => first.close());
  const b = await createSecondApp(first, full);
  cleanup.push(() => b.close());
  return { a: first.app, b, prefix: full.REDIS_PREFIX };
}

const signIn = (app: FastifyInstance, login: string, password: string, ip = '127.0.0.1') =>
  new Client(app).request({
    method: 'POST',
    url: '/api/v1/auth/login',
    remoteAddress: ip,
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({ login, password }),
  });

describe.skipIf(!(await redisAvailable()))('sign-in limits on two instances sharing Redis', () => {
  let direct: Redis;
  beforeAll(async () => {
    direct = await connectTestRedis();
  });
  afterAll(async () => {
    if (direct) await closeRedis(direct);
  });

  it('add failed sign-ins through A and B up to one limit, then answer 429 with Retry-After on both', async () => {
    const { a, b, prefix } = await twoInstances({
      REDIS_URL,
      LOGIN_MAX_PER_ACCOUNT: '4',
      LOGIN_WINDOW_SECONDS: '600',
    });
    cleanup.push(() => deleteKeys(direct, prefix));
    const user = await createUser(a, 'reader');
    const wrong = [];
    for (const app of [a, b, a, b]) wrong.push((await signIn(app, user.username, 'wrong one!')).statusCode);
    expect(wrong).toEqual([401, 401, 401, 401]);

    // The right password too: the account is locked for the window, wherever the request lands.
    for (const app of [a, b]) {
      const blocked = await signIn(app, user.email, user.password);
      expect(blocked.statusCode).toBe(429);
      expect(blocked.json().error.code).toBe('rate_limited');
      const retryAfter = Number(blocked.headers['retry-after']);
      expect(retryAfter).toBeGreaterThan(590);
      expect(retryAfter).toBeLessThanOrEqual(600);
    }
    // Under the configured prefix, with the window as its expiry.
    const key = `${prefix}login:account:user:${user.id}`;
    expect(await direct.get(key)).toBe('4');
    expect(await direct.pttl(key)).toBeGreaterThan(590_000);
  });

  it('count one address across both instances, whichever accounts it tries', async () => {
    const { a, b, prefix } = await twoInstances({ REDIS_URL, LOGIN_MAX_PER_IP: '3' });
    cleanup.push(() => deleteKeys(direct, prefix));
    const statuses = [];
    for (const [i, app] of [a, b, a, b].entries()) {
      statuses.push((await signIn(app, `nobody${i}`, 'guess', '203.0.113.7')).statusCode);
    }
    expect(statuses).toEqual([401, 401, 401, 429]);
    // Another address is not affected.
    expect((await signIn(b, 'nobody9', 'guess', '203.0.113.8')).statusCode).toBe(401);
  });

  it('let no more than the limit through when guesses arrive on both at the same moment', async () => {
    const { a, b, prefix } = await twoInstances({ REDIS_URL, LOGIN_MAX_PER_ACCOUNT: '5' });
    cleanup.push(() => deleteKeys(direct, prefix));
    const user = await createUser(a, 'reader');
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => signIn(i % 2 ? b : a, user.username, `guess ${i}`)),
    );
    const statuses = answers.map((r) => r.statusCode);
    expect(statuses.filter((s) => s === 401)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(15);
  });

  it('clear the account on a success on either instance, and keep the session working on both', async () => {
    const { a, b, prefix } = await twoInstances({ REDIS_URL, LOGIN_MAX_PER_ACCOUNT: '3' });
    cleanup.push(() => deleteKeys(direct, prefix));
    const user = await createUser(a, 'reader');
    for (const app of [a, b]) expect((await signIn(app, user.username, 'wrong one!')).statusCode).toBe(401);
    const onB = new Client(b);
    await onB.login(user.username, user.password);
    expect(await direct.exists(`${prefix}login:account:user:${user.id}`)).toBe(0);
    // The success took its attempt back from the address: two failures remain.
    expect(await direct.get(`${prefix}login:ip:127.0.0.1`)).toBe('2');

    // Sessions are database rows: the cookie made on B is a signed-in session on A.
    const onA = new Client(a);
    for (const [name, value] of onB.cookies) onA.cookies.set(name, value);
    const me = await onA.get('/api/v1/auth/me');
    expect(me.statusCode).toBe(200);
    expect(me.json().user.username).toBe(user.username);
    // Three more failures are allowed again after the success.
    const again = [];
    for (const app of [a, b, a, b]) again.push((await signIn(app, user.username, 'wrong again')).statusCode);
    expect(again).toEqual([401, 401, 401, 429]);
  });

  it('give a counter found without an expiry (written by hand, say) a window instead of refusing forever', async () => {
    const { a, prefix } = await twoInstances({
      REDIS_URL,
      LOGIN_MAX_PER_ACCOUNT: '2',
      LOGIN_WINDOW_SECONDS: '60',
    });
    cleanup.push(() => deleteKeys(direct, prefix));
    await direct.set(`${prefix}login:account:login:ghost`, '5');
    const refused = await signIn(a, 'ghost', 'guess');
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['retry-after']).toBe('60');
    expect(await direct.pttl(`${prefix}login:account:login:ghost`)).toBeGreaterThan(55_000);
  });

  it('with Redis down, limit each instance on its own (nobody locked out, no unlimited guessing) and warn once', async () => {
    const own = await startOwnRedis();
    if (!own) return;
    cleanup.push(() => own.stop());
    const warnings: string[] = [];
    const log = {
      info: () => {},
      error: () => {},
      warn: (_: object, message: string) => warnings.push(message),
    };
    const { a, b } = await twoInstances({ REDIS_URL: own.url, LOGIN_MAX_PER_ACCOUNT: '3' }, { log });
    const user = await createUser(a, 'reader');
    expect((await signIn(a, user.username, 'wrong one!')).statusCode).toBe(401);

    await own.stop();
    const started = performance.now();
    const onA = [];
    for (let i = 0; i < 4; i++) onA.push((await signIn(a, user.username, 'wrong one!')).statusCode);
    // A's own memory counts from zero: three failures, then 429; Redis's count is out of reach.
    expect(onA).toEqual([401, 401, 401, 429]);
    expect(performance.now() - started).toBeLessThan(2000);
    // B has its own count, so the owner still gets in there.
    const onB = new Client(b);
    await onB.login(user.username, user.password);
    expect(warnings.filter((w) => /sign-in limits/.test(w))).toEqual([
      'Redis is not answering: sign-in limits are per instance until it does',
    ]);
    // Back before the apps close: their job queue waits for Redis on close.
    await own.start();
    await expect
      .poll(() => [a, b].every((app) => app.redis?.status === 'ready'), { timeout: 10_000 })
      .toBe(true);
  });
});
