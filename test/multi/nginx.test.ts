import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toActor } from '../../src/modules/users/service.js';
import { closeRedis } from '../../src/plugins/redis.js';
import { type FakeModelServer, startFakeModelServer } from '../fakes/model-server.js';
import { createTestApp, createUser, type TestApp } from '../helpers/app.js';
import { availableDialects, databaseUrl } from '../helpers/db.js';
import {
  connectTestRedis,
  deleteKeys,
  freePort,
  REDIS_URL,
  redisAvailable,
  testPrefix,
} from '../helpers/redis.js';
import { parseSse, textOf } from '../helpers/sse.js';
import {
  getFrom,
  type Instance,
  type Nginx,
  nginxAvailable,
  settled,
  startInstance,
  startNginx,
  testNginxConf,
} from './processes.js';

// Scale-out as it is deployed: Debian's nginx on the shipped deploy/nginx/inkstone.conf in
// front of two `inkstone serve` processes, one database (PostgreSQL when there is one), one
// Redis. "Through A" and "through B" go to an instance's own port, so which one wrote and
// which one read is certain; what nginx adds (spreading, client address, streams, cache) is
// checked through nginx's port.

const available = (await redisAvailable()) && nginxAvailable();
const dialect = (await availableDialects()).includes('postgres') ? 'postgres' : 'sqlite';
const LOGIN_MAX_PER_ACCOUNT = 4;

describe.skipIf(!available)(`nginx in front of two inkstone serve processes (${dialect})`, () => {
  let site: TestApp;
  let fake: FakeModelServer;
  let direct: Redis;
  let prefix: string;
  let nginx: Nginx;
  let a: Instance;
  let b: Instance;

  /** A user of their own per test (so limits do not mix), with an API token. */
  async function author() {
    const user = await createUser(site.app, 'author');
    const { token } = await site.app.services.auth.createToken(toActor(user), 'nginx test');
    return { user, token };
  }

  const api = (base: string, token: string, method: string, path: string, body?: object) =>
    fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body && JSON.stringify(body),
    });

  async function publish(base: string, token: string, title: string) {
    const response = await api(base, token, 'POST', '/api/v1/posts', {
      title,
      body: `${title}, in a few words.`,
      status: 'published',
    });
    expect(response.status).toBe(201);
    return (await response.json()) as { id: number; url: string; version: number };
  }

  const page = async (url: string, headers: Record<string, string> = {}) => {
    const response = await fetch(url, { headers });
    return { status: response.status, headers: response.headers, body: await response.text() };
  };

  /** An anonymous page twice on one instance, so the next read there is from its page cache. */
  async function warm(instance: Instance, path: string) {
    expect((await page(`${instance.url}${path}`)).status).toBe(200);
    expect((await page(`${instance.url}${path}`)).headers.get('x-page-cache')).toBe('hit');
  }

  const login = (base: string, login: string, password: string) =>
    fetch(`${base}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ login, password }),
    });

  beforeAll(async () => {
    // Slow enough that a buffered stream and a streamed one look different.
    fake = await startFakeModelServer({ ttftMs: 50, interTokenMs: 15 });
    direct = await connectTestRedis();
    prefix = testPrefix();
    site = await createTestApp(dialect, { REDIS_URL, REDIS_PREFIX: prefix });
    const nginxPort = await freePort();
    const env: Record<string, string> = {
      NODE_ENV: 'production',
      SESSION_SECRET: randomBytes(32).toString('hex'),
      // info: the request log says which instance saw which request, from which address.
      LOG_LEVEL: 'info',
      DATABASE_URL: databaseUrl(site.database.config),
      REDIS_URL,
      REDIS_PREFIX: prefix,
      TRUST_PROXY: 'true',
      PAGE_CACHE_TTL_SECONDS: '60',
      LOGIN_MAX_PER_ACCOUNT: String(LOGIN_MAX_PER_ACCOUNT),
      LOGIN_MAX_PER_IP: '1000',
      AI_PROVIDER: 'ollama',
      AI_BASE_URL: fake.url,
      // Production turns load shedding on: on a busy test machine it would refuse requests.
      OVERLOAD_EVENT_LOOP_DELAY_MS: '0',
      OVERLOAD_HEAP_PERCENT: '0',
      // The purge hook, one PURGE per changed page, to nginx.
      PAGE_PURGE_URL: `http://127.0.0.1:${nginxPort}`,
      PAGE_PURGE_STYLE: 'purge',
    };
    [a, b] = await Promise.all([startInstance(env), startInstance(env)]);
    nginx = await startNginx([`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`], { port: nginxPort });
  }, 90_000);

  afterAll(async () => {
    await nginx?.stop();
    await Promise.all([a?.stop(), b?.stop()]);
    await site?.close();
    if (direct) {
      await deleteKeys(direct, prefix);
      await closeRedis(direct);
    }
    await fake?.close();
  });

  it('nginx -t accepts the shipped config', () => {
    const result = testNginxConf();
    expect(result.output).toContain('test is successful');
    expect(result.status).toBe(0);
  });

  it('spreads requests over both instances', async () => {
    const probe = `spread-${randomBytes(4).toString('hex')}`;
    // robots.txt: never cached, never shed, and logged at info (the health routes log at warn).
    for (let i = 0; i < 10; i++) {
      expect((await fetch(`${nginx.url}/robots.txt?${probe}=${i}`)).status).toBe(200);
    }
    // nginx writes a request's log line after its response.
    const lines = await settled(
      () => nginx.log().filter((line) => line.uri.includes(probe)),
      (found) => found.length >= 10,
    );
    expect(lines).toHaveLength(10);
    const perInstance = (instance: Instance) =>
      lines.filter((line) => line.upstream === `127.0.0.1:${instance.port}`).length;
    // Round robin: five each; at least two each leaves room for a retried connection.
    expect(perInstance(a)).toBeGreaterThanOrEqual(2);
    expect(perInstance(b)).toBeGreaterThanOrEqual(2);
    expect(perInstance(a) + perInstance(b)).toBe(10);
    // And the instances' own request logs agree; nginx kept its connections to them open
    // (upstream keepalive): fewer connections than requests.
    for (const instance of [a, b]) {
      const seen = await settled(
        () => instance.requests().filter((r) => r.url.includes(probe)),
        (found) => found.length >= perInstance(instance),
      );
      expect(seen).toHaveLength(perInstance(instance));
      expect(new Set(seen.map((r) => r.remotePort)).size).toBeLessThan(seen.length);
    }
  });

  it('does not queue concurrent requests for a URL it may not store', async () => {
    // With proxy_cache_lock, each would wait for the one before it, polling every 500 ms.
    const url = `${nginx.url}/healthz?together=${randomBytes(4).toString('hex')}`;
    const started = Date.now();
    const statuses = await Promise.all(Array.from({ length: 20 }, async () => (await fetch(url)).status));
    expect(statuses).toEqual(Array(20).fill(200));
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it("passes on the address nginx saw, not one the client claims, and nginx's request id", async () => {
    const probe = `ip-${randomBytes(4).toString('hex')}`;
    // From 127.0.0.2: nginx sees that, while the instances see nginx connect from 127.0.0.1.
    const response = await getFrom('127.0.0.2', `${nginx.url}/robots.txt?${probe}`, {
      'x-forwarded-for': '203.0.113.7',
      'x-real-ip': '203.0.113.7',
    });
    expect(response.status).toBe(200);
    const logged = await settled(
      () => [...a.requests(), ...b.requests()].filter((r) => r.url.includes(probe)),
      (found) => found.length > 0,
    );
    expect(logged).toHaveLength(1);
    expect(logged[0]!.remoteAddress).toBe('127.0.0.2');
    // nginx's $request_id became the instance's request id, sent back to the client.
    expect(response.headers['x-request-id']).toMatch(/^[0-9a-f]{32}$/);
    expect(logged[0]!.reqId).toBe(response.headers['x-request-id']);
  });

  it("shows a post published through A on B's home page on the next request", async () => {
    const { token } = await author();
    await warm(b, '/');
    const title = `Published on A ${randomBytes(3).toString('hex')}`;
    await publish(a.url, token, title);
    const home = await page(`${b.url}/`);
    expect(home.body).toContain(title);
  });

  it('shows an edit made through B on A', async () => {
    const { token } = await author();
    const post = await publish(a.url, token, 'Before the edit');
    await warm(a, post.url);
    await warm(a, '/');
    const response = await api(b.url, token, 'PATCH', `/api/v1/posts/${post.id}`, {
      title: 'After the edit on B',
      version: post.version,
    });
    expect(response.status).toBe(200);
    expect((await page(`${a.url}${post.url}`)).body).toContain('After the edit on B');
    expect((await page(`${a.url}/`)).body).toContain('After the edit on B');
  });

  it('accepts a session made on A on B, and nginx never answers it from its cache', async () => {
    const { user } = await author();
    const signedIn = await login(a.url, user.username, user.password);
    expect(signedIn.status).toBe(200);
    const session = signedIn.headers.getSetCookie().find((c) => c.startsWith('inkstone_session='));
    expect(session).toBeDefined();
    const cookie = session!.split(';')[0]!;

    const me = await fetch(`${b.url}/api/v1/auth/me`, { headers: { cookie } });
    expect(me.status).toBe(200);
    expect(((await me.json()) as { user: { username: string } }).user.username).toBe(user.username);

    // Through nginx, to both instances: the home page as this user, past nginx's cache.
    await page(`${nginx.url}/`); // an anonymous copy is in nginx's cache now
    for (let i = 0; i < 4; i++) {
      const home = await page(`${nginx.url}/`, { cookie });
      expect(home.headers.get('x-cache-status')).toBe('BYPASS');
      expect(home.headers.get('cache-control')).toBe('private, no-store');
      expect(home.body).toContain(user.username);
    }
    // No one else in this file sends a session to the home page.
    const bypassed = await settled(
      () => nginx.log().filter((line) => line.uri === '/' && line.cache === 'BYPASS'),
      (lines) => lines.length >= 4,
    );
    expect(bypassed).toHaveLength(4);
    expect(new Set(bypassed.map((line) => line.upstream))).toEqual(
      new Set([`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`]),
    );
  });

  // A limiter in each process's memory would let LOGIN_MAX_PER_ACCOUNT failures through each.
  it('counts failed sign-ins to both instances against one limit', async () => {
    const { user } = await author();
    for (let i = 0; i < LOGIN_MAX_PER_ACCOUNT; i++) {
      const response = await login(i % 2 === 0 ? a.url : b.url, user.username, 'wrong password');
      expect(response.status, `attempt ${i + 1}`).toBe(401);
    }
    for (const instance of [a, b]) {
      const response = await login(instance.url, user.username, 'wrong password');
      expect(response.status, instance === a ? 'A' : 'B').toBe(429);
      expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    // The right password too: the account is locked for the window, wherever one signs in.
    expect((await login(nginx.url, user.username, user.password)).status).toBe(429);
  });

  it('caches anonymous pages in nginx, and nothing that sets a cookie', async () => {
    const { token } = await author();
    const post = await publish(a.url, token, 'Cached by nginx');
    const first = await page(`${nginx.url}${post.url}`);
    expect(first.status).toBe(200);
    expect(first.headers.get('x-cache-status')).toBe('MISS');
    const second = await page(`${nginx.url}${post.url}`);
    expect(second.headers.get('x-cache-status')).toBe('HIT');
    expect(second.body).toBe(first.body);
    // An API token goes past the cache.
    const withToken = await page(`${nginx.url}${post.url}`, { authorization: `Bearer ${token}` });
    expect(withToken.headers.get('x-cache-status')).toBe('BYPASS');
    // The sign-in page sets the CSRF cookie: never stored, so never handed to another reader.
    for (let i = 0; i < 2; i++) {
      const form = await page(`${nginx.url}/login`);
      expect(form.headers.get('x-cache-status')).toBe('MISS');
      expect(form.headers.get('set-cookie')).toContain('inkstone_csrf=');
    }
  });

  it('streams an AI answer through nginx as it is written, not at its end', async () => {
    const { token } = await author();
    const started = Date.now();
    const response = await api(nginx.url, token, 'POST', '/api/v1/ai/write', {
      kind: 'summarize',
      text: `A stream through nginx ${randomBytes(3).toString('hex')}.`,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const arrivals: number[] = [];
    let body = '';
    const decoder = new TextDecoder();
    const reader = response.body!.getReader();
    for (let read = await reader.read(); !read.done; read = await reader.read()) {
      arrivals.push(Date.now() - started);
      body += decoder.decode(read.value, { stream: true });
    }
    const events = parseSse(body);
    expect(events.at(-1)?.event).toBe('done');
    expect(textOf(events)).toMatch(/^Echo: .*The end\.$/s);
    // ~30 tokens 15 ms apart: buffered, they would arrive in one or two pieces at the end.
    expect(arrivals.length).toBeGreaterThan(10);
    expect(arrivals.at(-1)! - arrivals[0]!).toBeGreaterThan(200);
  });

  it("purges nginx's copy of a page an edit through A changed", async () => {
    const { token } = await author();
    const post = await publish(a.url, token, 'Purged title');
    for (const path of [post.url, '/']) {
      await page(`${nginx.url}${path}`);
      // UPDATING: a copy an earlier purge refreshed (kept 1 s) is served while it is checked.
      expect((await page(`${nginx.url}${path}`)).headers.get('x-cache-status'), path).toMatch(
        /^(HIT|UPDATING)$/,
      );
    }
    const response = await api(a.url, token, 'PATCH', `/api/v1/posts/${post.id}`, {
      title: 'Title after the purge',
      version: post.version,
    });
    expect(response.status).toBe(200);
    // The hook sends its PURGE requests after the write has answered.
    for (const path of [post.url, '/']) {
      let body = '';
      for (let i = 0; i < 100 && !body.includes('Title after the purge'); i++) {
        if (i > 0) await sleep(50);
        body = (await page(`${nginx.url}${path}`)).body;
      }
      expect(body, path).toContain('Title after the purge');
    }
    const purges = await settled(
      () => nginx.log().filter((line) => line.method === 'PURGE'),
      (lines) => lines.some((line) => line.uri === post.url),
    );
    expect(purges.filter((line) => line.uri === post.url)[0]?.status).toBe(204);
  });

  it("replaces nginx's copy of a post unpublished through B with its 404", async () => {
    const { token } = await author();
    const post = await publish(a.url, token, 'Soon a draft again');
    await page(`${nginx.url}${post.url}`);
    expect((await page(`${nginx.url}${post.url}`)).headers.get('x-cache-status')).toMatch(/^(HIT|UPDATING)$/);
    expect((await api(b.url, token, 'POST', `/api/v1/posts/${post.id}/unpublish`)).status).toBe(200);
    let status = 200;
    for (let i = 0; i < 100 && status === 200; i++) {
      if (i > 0) await sleep(50);
      status = (await page(`${nginx.url}${post.url}`)).status;
    }
    expect(status).toBe(404);
    // The refresh found the page gone: the PURGE says 404, which the hook takes as done.
    const purges = await settled(
      () => nginx.log().filter((line) => line.method === 'PURGE' && line.uri === post.url),
      (lines) => lines.length > 0,
    );
    expect(purges.map((line) => line.status)).toEqual([404]);
  });

  // Last: it stops B.
  it('keeps answering through nginx when an instance stops', async () => {
    await b.stop();
    const probe = `down-${randomBytes(4).toString('hex')}`;
    for (let i = 0; i < 6; i++) {
      expect((await fetch(`${nginx.url}/healthz?${probe}=${i}`)).status, `request ${i + 1}`).toBe(200);
    }
    const lines = await settled(
      () => nginx.log().filter((line) => line.uri.includes(probe)),
      (found) => found.length >= 6,
    );
    expect(lines).toHaveLength(6);
    expect(lines.every((line) => line.status === 200)).toBe(true);
    // Each went to A in the end (a request that tried B first names both, B's refusal first).
    expect(lines.map((line) => line.upstream.split(', ').at(-1))).toEqual(
      Array(6).fill(`127.0.0.1:${a.port}`),
    );
  });
});
