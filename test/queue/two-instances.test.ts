import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeRedis } from '../../src/plugins/redis.js';
import { toActor } from '../../src/modules/users/service.js';
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

// Scale-out as it runs: two `inkstone serve` processes (the CLI through tsx), one database
// (PostgreSQL when there is one; else a SQLite file both open), one Redis, one fake model
// server (a simulator). The test is the load balancer: it sends each request to one of them.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const available = await redisAvailable();
const dialect = (await availableDialects()).includes('postgres') ? 'postgres' : 'sqlite';
const REQUESTS_PER_MINUTE = 22;

interface Instance {
  url: string;
  child: ChildProcess;
  output: () => string;
}

async function startInstance(env: Record<string, string>): Promise<Instance> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', 'serve'], {
    cwd: ROOT,
    env: { ...process.env, ...env, HOST: '127.0.0.1', PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Vitest may end its worker without afterAll: no process of ours outlives it.
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  child.once('exit', () => process.off('exit', kill));
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`inkstone serve exited (${child.exitCode}): ${output}`);
    const ok = await fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return { url, child, output: () => output };
    if (Date.now() > deadline) throw new Error(`inkstone serve did not answer within 30 s: ${output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function stopInstance(instance: Instance | undefined): Promise<void> {
  if (!instance || instance.child.exitCode !== null || instance.child.signalCode !== null) return;
  const exited = new Promise((resolve) => instance.child.once('exit', resolve));
  instance.child.kill('SIGTERM');
  await exited;
}

describe.skipIf(!available)(`two inkstone serve processes on one Redis (${dialect})`, () => {
  let fake: FakeModelServer;
  let direct: Redis;
  let site: TestApp;
  let prefix: string;
  const instances: Instance[] = [];

  /** A signed-in author's API token: a user of their own per test, so limits do not mix. */
  async function author(): Promise<string> {
    const user = await createUser(site.app, 'author');
    return (await site.app.services.auth.createToken(toActor(user), 'scale-out test')).token;
  }

  const call = (instance: Instance, token: string, path: string, body?: object) =>
    fetch(`${instance.url}${path}`, {
      method: body ? 'POST' : 'GET',
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body && JSON.stringify(body),
    });

  beforeAll(async () => {
    // Slow enough that concurrent requests all arrive while the first answer is written.
    fake = await startFakeModelServer({ ttftMs: 300, interTokenMs: 5 });
    direct = await connectTestRedis();
    prefix = testPrefix();
    const env = {
      AI_PROVIDER: 'ollama',
      AI_BASE_URL: fake.url,
      AI_REQUESTS_PER_MINUTE: String(REQUESTS_PER_MINUTE),
      AI_USER_CONCURRENCY: '100',
      AI_CONCURRENCY: '100',
      REDIS_URL,
      REDIS_PREFIX: prefix,
    };
    // The database, migrated, and a place to create users and tokens; it serves nothing.
    site = await createTestApp(dialect, env);
    const shared = {
      ...env,
      NODE_ENV: 'production',
      SESSION_SECRET: randomBytes(32).toString('hex'),
      LOG_LEVEL: 'warn',
      DATABASE_URL: databaseUrl(site.database.config),
    };
    instances.push(...(await Promise.all([startInstance(shared), startInstance(shared)])));
  }, 60_000);

  afterAll(async () => {
    await Promise.all(instances.map(stopInstance));
    await site?.close();
    if (direct) {
      await deleteKeys(direct, prefix);
      await closeRedis(direct);
    }
    await fake?.close();
  });

  it('sends 20 identical requests spread over both to the model once, each caller getting the whole answer', async () => {
    const token = await author();
    fake.resetStats();
    const body = { kind: 'summarize', text: 'Twenty readers, two servers, one answer.' };
    const answers = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const response = await call(instances[i % 2]!, token, '/api/v1/ai/write', body);
        return { status: response.status, events: parseSse(await response.text()) };
      }),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
    expect(fake.stats.requests).toHaveLength(1);
    const texts = answers.map((a) => textOf(a.events));
    expect(texts[0]).toMatch(/^Echo: .*The end\.$/s);
    expect(new Set(texts).size).toBe(1);
    expect(answers.every((a) => a.events.at(-1)?.event === 'done')).toBe(true);
  });

  it("counts one user's requests per minute on both", async () => {
    const token = await author();
    // All at once, half on each: the shared bucket lets exactly the limit through.
    const statuses = await Promise.all(
      Array.from({ length: REQUESTS_PER_MINUTE + 3 }, async (_, i) => {
        const response = await call(instances[i % 2]!, token, '/api/v1/ai/write', {
          kind: 'titles',
          text: `Post number ${i}`,
          stream: false,
        });
        await response.arrayBuffer();
        return response.status;
      }),
    );
    expect(statuses.filter((s) => s === 200)).toHaveLength(REQUESTS_PER_MINUTE);
    expect(statuses.filter((s) => s === 429)).toHaveLength(3);
  });

  it('lets a job submitted to one be read, and its stream followed, on the other', async () => {
    const token = await author();
    const [a, b] = instances as [Instance, Instance];
    fake.resetStats();
    const submitted = await call(a, token, '/api/v1/ai/generations', {
      kind: 'draft',
      title: 'Submitted here, read there',
    });
    expect(submitted.status).toBe(202);
    const { id } = (await submitted.json()) as { id: string };
    // From the start, on the other instance, without a second generation.
    const stream = await call(b, token, `/api/v1/ai/generations/${id}/events`);
    expect(stream.status).toBe(200);
    const events = parseSse(await stream.text());
    expect(events.at(-1)?.event).toBe('done');
    const job = (await (await call(b, token, `/api/v1/ai/generations/${id}`)).json()) as {
      status: string;
      output: string;
    };
    expect(job.status).toBe('completed');
    expect(job.output).toBe(textOf(events));
    expect(job.output).toMatch(/^Echo: .*The end\.$/s);
    expect(fake.stats.requests).toHaveLength(1);
  });
});
