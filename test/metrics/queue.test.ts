import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { MetricsSnapshot } from '../../src/modules/admin/metrics-snapshot.js';
import { closeRedis } from '../../src/plugins/redis.js';
import { type FakeModelServer, startFakeModelServer } from '../fakes/model-server.js';
import { type Client, createTestApp, signedIn, type TestApp } from '../helpers/app.js';
import { databaseUrl } from '../helpers/db.js';
import {
  connectTestRedis,
  deleteKeys,
  freePort,
  REDIS_URL,
  redisAvailable,
  testPrefix,
} from '../helpers/redis.js';
import { havePromtool, promtoolCheck, value } from './scrape.js';

// The BullMQ queue's depth by state (inkstone_queue_jobs) against a real Redis, and the
// metrics of an `inkstone worker` process, which runs jobs the web process never sees.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TOKEN = 'queue-metrics-token-0123';
const available = await redisAvailable();

describe.skipIf(!available)('queue metrics (real Redis)', { timeout: 60_000 }, () => {
  let fake: FakeModelServer;
  let direct: Redis;
  let prefix: string;
  let site: TestApp;
  let author: Client;
  let admin: Client;
  const cleanup: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    fake = await startFakeModelServer({ ttftMs: 5, interTokenMs: 2 });
    direct = await connectTestRedis();
  });
  afterEach(async () => {
    while (cleanup.length) await cleanup.pop()!();
    await deleteKeys(direct, prefix);
  });
  afterAll(async () => {
    await fake?.close();
    if (direct) await closeRedis(direct);
  });

  const env = () => ({
    AI_PROVIDER: 'ollama',
    AI_BASE_URL: fake.url,
    AI_REQUESTS_PER_MINUTE: '1000',
    REDIS_URL,
    REDIS_PREFIX: prefix,
    METRICS_TOKEN: TOKEN,
    // The web process only queues: the jobs wait for an `inkstone worker`.
    AI_WEB_WORKER_CONCURRENCY: '0',
  });

  async function start() {
    prefix = testPrefix();
    site = await createTestApp('sqlite', env());
    cleanup.push(() => site.close());
    ({ client: author } = await signedIn(site.app, 'author'));
    ({ client: admin } = await signedIn(site.app, 'admin'));
  }

  const scrape = async () => {
    const response = await site.app.inject({
      url: '/metrics',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(response.statusCode).toBe(200);
    return response.body;
  };
  const submit = async (title: string) => {
    const response = await author.api('POST', '/api/v1/ai/generations', { kind: 'draft', title });
    expect(response.statusCode, response.body).toBe(202);
    return response.json<{ id: string }>().id;
  };

  it('reports waiting, active, delayed and failed jobs, in /metrics and /admin/metrics.json', async () => {
    await start();
    // BullMQ's own objects on the app's queue, for the states the app cannot be made to show on cue.
    const connection = {
      connection: direct.duplicate({ maxRetriesPerRequest: null }),
      prefix: `${prefix}bull`,
    };
    const queue = new Queue('ai-jobs', connection);
    cleanup.push(() => connection.connection.quit());
    cleanup.push(() => queue.close());
    const state = async (name: string) => value(await scrape(), 'inkstone_queue_jobs', { state: name });

    expect(await state('waiting')).toBe(0);
    expect(await state('failed')).toBe(0);

    // One job that fails (one attempt), taken by a worker that throws.
    await queue.add('generate', { jobId: 'doomed' }, { jobId: 'doomed' });
    const failing = new Worker(
      'ai-jobs',
      async () => {
        throw new Error('fails on purpose');
      },
      connection,
    );
    await new Promise((resolve) => failing.once('failed', resolve));
    await failing.close();
    // One for later.
    await queue.add('generate', { jobId: 'later' }, { jobId: 'later', delay: 60_000 });
    // Three through the API.
    for (const title of ['One', 'Two', 'Three']) await submit(title);

    let text = await scrape();
    expect(value(text, 'inkstone_queue_jobs', { state: 'waiting' })).toBe(3);
    expect(value(text, 'inkstone_queue_jobs', { state: 'delayed' })).toBe(1);
    expect(value(text, 'inkstone_queue_jobs', { state: 'failed' })).toBe(1);
    expect(value(text, 'inkstone_queue_jobs', { state: 'active' })).toBe(0);

    // A worker that holds the job it takes: one active, two waiting.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let took!: () => void;
    const taken = new Promise<void>((resolve) => (took = resolve));
    const holding = new Worker(
      'ai-jobs',
      async () => {
        took();
        await held;
      },
      { ...connection, concurrency: 1 },
    );
    await taken;
    text = await scrape();
    expect(value(text, 'inkstone_queue_jobs', { state: 'active' })).toBe(1);
    expect(value(text, 'inkstone_queue_jobs', { state: 'waiting' })).toBe(2);
    const json = await admin.get('/admin/metrics.json', { accept: 'application/json' });
    expect(json.json<MetricsSnapshot>().queue).toEqual({ waiting: 2, active: 1, delayed: 1, failed: 1 });
    release();
    await holding.close();
  });

  it('`inkstone worker --metrics-port` serves the AI series of the jobs it runs, and the queue', async () => {
    await start();
    const metricsPort = await freePort();
    const worker = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/cli/index.ts', 'worker', '--metrics-port', String(metricsPort)],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          ...env(),
          NODE_ENV: 'test',
          LOG_LEVEL: 'info',
          DATABASE_URL: databaseUrl(site.database.config),
          AI_WORKER_CONCURRENCY: '1',
          SHUTDOWN_TIMEOUT_MS: '2000',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const kill = () => worker.kill('SIGKILL');
    process.once('exit', kill);
    cleanup.push(() => stopChild(worker, kill));
    let output = '';
    worker.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    worker.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await waitFor(
      () => output.includes('"msg":"worker ready"'),
      () => `the worker did not start: ${output}`,
    );

    const scrapeWorker = async () => {
      const response = await request(`http://127.0.0.1:${metricsPort}/metrics`);
      expect(response.statusCode).toBe(200);
      return response.body.text();
    };
    const before = await scrapeWorker();
    expect(value(before, 'inkstone_ai_requests_total', { outcome: 'ok' })).toBe(0);
    expect(value(before, 'inkstone_queue_jobs', { state: 'waiting' })).toBe(0);
    expect(value(before, 'process_resident_memory_bytes')).toBeGreaterThan(0);

    const id = await submit('A post the worker writes');
    await waitFor(
      async () =>
        (await author.get(`/api/v1/ai/generations/${id}`)).json<{ status: string }>().status === 'completed',
      () => `the job did not complete: ${output}`,
    );
    const after = await scrapeWorker();
    const model = { provider: 'main', model: 'glm4' };
    expect(value(after, 'inkstone_ai_requests_total', { ...model, outcome: 'ok' })).toBe(1);
    expect(value(after, 'inkstone_ai_time_to_first_token_seconds_count', model)).toBe(1);
    expect(value(after, 'inkstone_ai_tokens_total', { ...model, direction: 'out' })).toBeGreaterThan(0);
    if (havePromtool) expect(await promtoolCheck(after)).toBe('');
    // The web process queued it and ran nothing.
    expect(value(await scrape(), 'inkstone_ai_requests_total', { outcome: 'ok' })).toBe(0);
  });
});

async function waitFor(check: () => boolean | Promise<boolean>, why: () => string, ms = 30_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(why());
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function stopChild(child: ChildProcess, kill: () => void) {
  process.off('exit', kill);
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}
