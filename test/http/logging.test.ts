import { execFileSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { requestIdFrom } from '../../src/http/logging.js';
import { scryptHasher } from '../../src/modules/users/password.js';
import { startFakeModelServer, type FakeModelServer } from '../fakes/model-server.js';
import { Client, createUser } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { connectTestRedis, deleteKeys, REDIS_URL, redisAvailable, testPrefix } from '../helpers/redis.js';

// The log as an operator reads it: pino JSON at info, every line of a request carrying the
// request id, job lines carrying the job id, and no credential or prompt anywhere.

interface Line {
  level: number;
  msg?: string;
  reqId?: string;
  job?: string;
  [key: string]: unknown;
}

/** pino's output, one JSON object per line, kept as text and parsed. */
class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
  lines(from = 0): Line[] {
    return this.text
      .slice(from)
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Line);
  }
}

/** An app logging at info into `log`, over a fresh SQLite database. */
async function loggingApp(log: Capture, env: Record<string, string>) {
  const database = await createTestDatabase('sqlite');
  const config = loadConfig({ NODE_ENV: 'test', ...env });
  config.database = database.config;
  const app = await buildApp({
    config,
    database: database.handle,
    overrides: { passwordHasher: scryptHasher(2 ** 10) },
    logger: { level: 'info', stream: log },
  });
  await app.ready();
  return { app, database };
}

describe('logs', () => {
  let fake: FakeModelServer;
  let database: TestDatabase;
  let app: FastifyInstance;
  const log = new Capture();

  beforeAll(async () => {
    fake = await startFakeModelServer({ ttftMs: 2, interTokenMs: 1 });
    ({ app, database } = await loggingApp(log, {
      AI_PROVIDER: 'ollama',
      AI_BASE_URL: fake.url,
      AI_REQUESTS_PER_MINUTE: '1000',
      AI_RETRY_MAX_DELAY_MS: '100',
    }));
  });
  afterAll(async () => {
    await app?.close();
    await database?.destroy();
    await fake?.close();
  });

  it('carries the request id on every line of a request, from X-Request-Id, traceparent or made up', async () => {
    const trace = '0af7651916cd43dd8448eb211c80319c';
    const cases: [Record<string, string>, string | undefined][] = [
      [{ 'x-request-id': 'req-from-client' }, 'req-from-client'],
      [{ traceparent: `00-${trace}-b7ad6b7169203331-01` }, trace],
      [{}, undefined],
    ];
    for (const [headers, expected] of cases) {
      const from = log.text.length;
      // A 404 too: the error handler's path logs as well.
      for (const url of ['/api/v1/posts', '/api/v1/posts/nothing-here']) {
        const response = await app.inject({ method: 'GET', url, headers });
        const id = String(response.headers['x-request-id']);
        if (expected) expect(id).toBe(expected);
        else expect(id).toMatch(/^[0-9a-f-]{36}$/);
        const lines = log.lines(from).filter((line) => line.req || line.res || line.reqId);
        expect(lines.length, url).toBeGreaterThanOrEqual(2);
      }
      const lines = log.lines(from);
      expect(lines.length).toBeGreaterThanOrEqual(4);
      for (const line of lines) expect(line.reqId, JSON.stringify(line)).toBeDefined();
      const ids = new Set(lines.map((line) => line.reqId));
      expect(ids.size).toBe(expected ? 1 : 2);
      if (expected) expect([...ids]).toEqual([expected]);
    }
  });

  it('redacts credentials and prompts even when code logs the objects that hold them', async () => {
    const from = log.text.length;
    app.log.info(
      {
        req: { headers: { authorization: 'Bearer ink_leak_1', cookie: 'inkstone_session=leak_2' } },
        headers: { authorization: 'Bearer ink_leak_3', cookie: 'leak_4' },
        password: 'leak_5',
        user: { password: 'leak_6', token: 'leak_7' },
        request: { prompt: 'leak_8', messages: [{ role: 'user', content: 'leak_9' }] },
        // Deeper than one level, and inside arrays.
        job: { input: { params: { token: 'leak_10' } }, attempts: [{ password: 'leak_11' }] },
        kept: 'visible',
      },
      'a careless line',
    );
    const text = log.text.slice(from);
    expect(text).toContain('visible');
    expect(text).toContain('[redacted]');
    expect(text).not.toMatch(/leak_\d/);
  });

  it('logs no password, session cookie, CSRF token, API token or prompt at info during a full session', async () => {
    const from = log.text.length;
    const secrets: Record<string, string> = {};

    // Register a reader through the API.
    const reader = new Client(app);
    secrets.readerPassword = 'kettle-whistle-9127-reader';
    await reader.get('/login');
    const registered = await reader.api('POST', '/api/v1/auth/register', {
      username: 'leaflog',
      email: 'leaflog@example.com',
      password: secrets.readerPassword,
    });
    expect(registered.statusCode, registered.body).toBe(201);

    // A wrong password, then the right one, for an author.
    const author = await createUser(app, 'author');
    secrets.authorPassword = author.password;
    const client = new Client(app);
    const wrong = await client.api('POST', '/api/v1/auth/login', {
      login: author.username,
      password: 'not-the-password-4471',
    });
    expect(wrong.statusCode).toBe(401);
    secrets.wrongPassword = 'not-the-password-4471';
    await client.login(author.username, author.password);
    secrets.session = client.cookies.get('inkstone_session')!;
    secrets.csrf = client.csrf;
    expect(secrets.session.length).toBeGreaterThan(10);

    // An API token, used, and a bad one.
    const created = await client.api('POST', '/api/v1/tokens', { name: 'laptop' });
    expect(created.statusCode, created.body).toBe(201);
    secrets.token = created.json().token;
    const bearer = { authorization: `Bearer ${secrets.token}` };
    expect((await app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer })).statusCode).toBe(
      200,
    );
    const bad = await app.inject({
      method: 'GET',
      url: '/api/v1/auth/me',
      headers: { authorization: 'Bearer ink_not_a_real_token_5521' },
    });
    expect(bad.statusCode).toBe(401);
    secrets.badToken = 'ink_not_a_real_token_5521';

    // An AI draft with the token (streamed), one as a job, and one that fails at the model.
    secrets.prompt = 'Oolong harvested under the ninth moon of Wuyi';
    const draft = await app.inject({
      method: 'POST',
      url: '/api/v1/ai/write',
      headers: { ...bearer, 'content-type': 'application/json' },
      payload: JSON.stringify({ kind: 'draft', title: secrets.prompt }),
    });
    expect(draft.statusCode, draft.body).toBe(200);
    expect(fake.stats.requests.some((r) => JSON.stringify(r.body).includes(secrets.prompt!))).toBe(true);

    secrets.jobPrompt = 'A kettle that sings in B flat at dawn';
    const job = await app.inject({
      method: 'POST',
      url: '/api/v1/ai/generations',
      headers: { ...bearer, 'content-type': 'application/json' },
      payload: JSON.stringify({ kind: 'continue', text: secrets.jobPrompt }),
    });
    expect(job.statusCode, job.body).toBe(202);
    const jobId = String(job.json().id);
    await expect
      .poll(
        async () =>
          (
            await app.inject({ method: 'GET', url: `/api/v1/ai/generations/${jobId}`, headers: bearer })
          ).json().status,
        { timeout: 5000, interval: 20 },
      )
      .toBe('completed');

    secrets.failingPrompt = 'Pu-erh pressed into a brick for the caravan';
    fake.set({ fault: { type: 'status503' } });
    const failed = await app.inject({
      method: 'POST',
      url: '/api/v1/ai/write',
      headers: { ...bearer, 'content-type': 'application/json' },
      payload: JSON.stringify({
        kind: 'rewrite',
        text: secrets.failingPrompt,
        instruction: 'shorter',
        stream: false,
      }),
    });
    fake.set({ fault: null });
    expect(failed.statusCode).toBeGreaterThanOrEqual(500);

    await client.api('POST', '/api/v1/auth/logout');

    const text = log.text.slice(from);
    const lines = log.lines(from);
    expect(lines.length).toBeGreaterThan(20);
    for (const [name, secret] of Object.entries(secrets)) {
      expect(text.includes(secret), `${name} appears in the log`).toBe(false);
    }
    // Nothing below info was written; every line is a request's; the job's line names both ids
    // (in-process jobs log nothing more at info; with Redis the worker's lines carry `job`).
    expect(lines.every((line) => line.level >= 30)).toBe(true);
    for (const line of lines) expect(line.reqId, JSON.stringify(line)).toBeDefined();
    const queued = lines.filter((line) => line.job === jobId);
    expect(queued).toHaveLength(1);
    expect(queued[0]!.reqId).toBe(job.headers['x-request-id']);
  });
});

describe('logs of a job run by a BullMQ worker (Redis)', () => {
  it('names the job on the worker’s lines, and the request that queued it names both ids', async () => {
    if (!(await redisAvailable())) return;
    const fake = await startFakeModelServer({ ttftMs: 2, interTokenMs: 1 });
    const prefix = testPrefix();
    const log = new Capture();
    const { app, database } = await loggingApp(log, {
      AI_PROVIDER: 'ollama',
      AI_BASE_URL: fake.url,
      AI_REQUESTS_PER_MINUTE: '1000',
      REDIS_URL,
      REDIS_PREFIX: prefix,
      AI_WEB_WORKER_CONCURRENCY: '1',
    });
    const direct = await connectTestRedis();
    try {
      const author = await createUser(app, 'author');
      const client = await new Client(app).login(author.username, author.password);
      const prompt = 'Genmaicha with toasted rice for a cold morning';
      const submitted = await client.api('POST', '/api/v1/ai/generations', {
        kind: 'continue',
        text: prompt,
      });
      expect(submitted.statusCode, submitted.body).toBe(202);
      const jobId = String(submitted.json().id);
      await expect
        .poll(async () => (await client.get(`/api/v1/ai/generations/${jobId}`)).json().status, {
          timeout: 10_000,
          interval: 25,
        })
        .toBe('completed');
      const lines = log.lines();
      const queued = lines.find((line) => line.msg === 'job queued');
      expect(queued).toMatchObject({ job: jobId, reqId: submitted.headers['x-request-id'] });
      const started = lines.find((line) => line.msg === 'job started');
      // The worker's line is no request's: the job id is what ties it to the one that queued it.
      expect(started).toMatchObject({ job: jobId });
      expect(started!.reqId).toBeUndefined();
      expect(log.text).not.toContain(prompt);
    } finally {
      await app.close();
      await database.destroy();
      await deleteKeys(direct, prefix);
      direct.disconnect();
      await fake.close();
    }
  });
});

describe('made-up request ids', () => {
  const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

  it('are UUID-shaped and never repeat within a process', () => {
    const ids = Array.from({ length: 1000 }, () => requestIdFrom({}));
    for (const id of ids) expect(id).toMatch(UUID_V4);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('differ between processes (a random head each), so logs of many instances do not collide', () => {
    const here = requestIdFrom({});
    const script = "import { requestIdFrom } from './src/http/logging.ts'; console.log(requestIdFrom({}));";
    const there = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      encoding: 'utf8',
    }).trim();
    expect(there).toMatch(UUID_V4);
    expect(there.slice(0, 24)).not.toBe(here.slice(0, 24));
  });
});
