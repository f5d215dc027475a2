import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RESTARTED } from '../../src/modules/ai/job-runner.js';
import { closeRedis } from '../../src/plugins/redis.js';
import { defaultReply, type FakeModelServer, startFakeModelServer } from '../fakes/model-server.js';
import { type Client, createTestApp, signedIn, type TestApp } from '../helpers/app.js';
import { availableDialects, databaseUrl } from '../helpers/db.js';
import { connectTestRedis, deleteKeys, REDIS_URL, redisAvailable, testPrefix } from '../helpers/redis.js';
import { parseSse, textOf } from '../helpers/sse.js';

// `inkstone worker` processes (the CLI through tsx, as `npx inkstone worker` runs it built),
// one web instance that only queues, one database (PostgreSQL when there is one, as a
// scale-out runs; else a SQLite file the processes share), one Redis, one fake model server.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = ['--import', 'tsx', 'src/cli/index.ts'];
const available = await redisAvailable();
const dialect = (await availableDialects()).includes('postgres') ? 'postgres' : 'sqlite';

interface WorkerProcess {
  child: ChildProcess;
  /** Each JSON log line, as it comes. */
  lines: Record<string, unknown>[];
  /** Resolves with the first line that matches. */
  line(match: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
}

function startWorker(env: Record<string, string>): WorkerProcess {
  const child = spawn(process.execPath, [...CLI, 'worker'], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Vitest may end its worker without afterAll: no process of ours outlives it.
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  const lines: Record<string, unknown>[] = [];
  const watchers = new Set<() => void>();
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout! }).on('line', (text) => {
    try {
      lines.push(JSON.parse(text) as Record<string, unknown>);
    } catch {
      return;
    }
    for (const watcher of [...watchers]) watcher();
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      process.off('exit', kill);
      for (const watcher of [...watchers]) watcher();
      resolve(code);
    }),
  );
  const line = (match: (line: Record<string, unknown>) => boolean) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const check = () => {
        const found = lines.find(match);
        if (found) {
          watchers.delete(check);
          resolve(found);
        } else if (child.exitCode !== null || child.signalCode !== null) {
          watchers.delete(check);
          reject(new Error(`the worker exited (${child.exitCode ?? child.signalCode}): ${stderr}`));
        }
      };
      watchers.add(check);
      check();
    });
  return { child, lines, line, exited };
}

async function stop(worker: WorkerProcess): Promise<void> {
  if (worker.child.exitCode !== null || worker.child.signalCode !== null) return;
  worker.child.kill('SIGKILL');
  await worker.exited;
}

describe('inkstone worker, before it runs', { timeout: 30_000 }, () => {
  it('says what the command runs, its option and how it stops', () => {
    const result = spawnSync(process.execPath, [...CLI, 'worker', '--help'], { cwd: ROOT, encoding: 'utf8' });
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('Usage: inkstone worker [--concurrency N]');
    expect(result.stdout).toContain('AI_WORKER_CONCURRENCY');
    expect(result.stdout).toContain('SIGTERM');
  });

  it('refuses to run without REDIS_URL, saying why', () => {
    const result = spawnSync(process.execPath, [...CLI, 'worker'], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, REDIS_URL: '' },
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('inkstone worker needs REDIS_URL');
  });
});

// Each test starts two Node processes through tsx: seconds each on a busy 2-core machine.
describe.skipIf(!available)(`jobs survive their worker (${dialect})`, { timeout: 60_000 }, () => {
  let fake: FakeModelServer;
  let direct: Redis;
  let site: TestApp;
  let author: Client;
  let prefix: string;
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    fake = await startFakeModelServer();
    direct = await connectTestRedis();
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map(stop));
    await site?.close();
    await deleteKeys(direct, prefix);
    fake.resetStats();
  });
  afterAll(async () => {
    await fake?.close();
    if (direct) await closeRedis(direct);
  });

  async function setUp(extra: Record<string, string> = {}) {
    prefix = testPrefix();
    const env = {
      AI_PROVIDER: 'ollama',
      AI_BASE_URL: fake.url,
      AI_REQUESTS_PER_MINUTE: '1000',
      REDIS_URL,
      REDIS_PREFIX: prefix,
      // A crashed worker's job is back in the queue within about a second.
      AI_JOB_LOCK_MS: '500',
      AI_JOB_MAX_RESTARTS: '1',
      AI_WORKER_CONCURRENCY: '1',
      SHUTDOWN_TIMEOUT_MS: '1000',
      ...extra,
    };
    site = await createTestApp(dialect, { ...env, AI_WEB_WORKER_CONCURRENCY: '0' });
    ({ client: author } = await signedIn(site.app, 'author'));
    const workerEnv = {
      ...env,
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      DATABASE_URL: databaseUrl(site.database.config),
    };
    workers.push(startWorker(workerEnv), startWorker(workerEnv));
    await Promise.all(workers.map((w) => w.line((l) => l.msg === 'worker ready')));
  }

  it.each(['SIGKILL', 'SIGTERM'] as const)(
    'a worker stopped by %s mid-answer: the other runs the job again, and the stream says so, then carries the new answer',
    async (signal) => {
      await setUp();
      fake.set({ interTokenMs: 30 });
      const submitted = await author.api('POST', '/api/v1/ai/generations', {
        kind: 'draft',
        title: 'A post about the tea harvest in spring',
      });
      expect(submitted.statusCode).toBe(202);
      const job = submitted.json();
      const started = (line: Record<string, unknown>) => line.msg === 'job started' && line.job === job.id;
      const first = await Promise.race(workers.map((w) => w.line(started).then(() => w)));
      const other = workers.find((w) => w !== first)!;
      // A reader follows the job on the web instance from before the crash to the end.
      const reading = author.get(job.events);
      // Some of the answer is in the stream when the worker stops (a reader has seen it).
      for (let i = 0; (await direct.xlen(`${prefix}ai:events:${job.id}`)) < 4 && i < 500; i++) {
        await fake.waitFor((s) => (s.requests[0]?.tokens ?? 0) > i);
      }
      first.child.kill(signal);
      expect(await first.exited).toBe(signal === 'SIGTERM' ? 0 : null);

      const again = await other.line(started);
      expect(again.restarts).toBe(signal === 'SIGKILL' ? 1 : 0);
      const events = parseSse((await reading).body);
      const done = (await author.get(`/api/v1/ai/generations/${job.id}`)).json();
      expect(done.status).toBe('completed');
      const prompt = (fake.stats.requests[1]!.body as { messages: { role: 'user'; content: string }[] })
        .messages;
      expect(done.output).toBe(defaultReply(prompt.slice(-1), 'glm4'));

      // The first call ended with its worker, unfinished; the second is the whole answer.
      expect(fake.stats.requests).toHaveLength(2);
      expect(fake.stats.requests[0]!.outcome).toBe('aborted');
      expect(fake.stats.requests[1]!.outcome).toBe('completed');

      // One sequence of ids across both workers; a notice, then the answer from its start.
      expect(events.map((e) => Number(e.id))).toEqual(events.map((_, i) => i));
      const notice = events.findIndex((e) => e.event === 'notice' && e.data.message === RESTARTED);
      expect(notice).toBeGreaterThanOrEqual(4);
      expect(events.filter((e) => e.event === 'start')).toHaveLength(2);
      expect(events[notice + 1]!.event).toBe('start');
      expect(textOf(events.slice(notice))).toBe(done.output);
      expect(events.at(-1)!.event).toBe('done');
    },
  );

  it('fails a job whose workers died more than AI_JOB_MAX_RESTARTS times, and ends its stream: never "running" for ever', async () => {
    await setUp({ AI_JOB_MAX_RESTARTS: '0' });
    fake.set({ interTokenMs: 30 });
    const job = (
      await author.api('POST', '/api/v1/ai/generations', { kind: 'draft', title: 'Doomed' })
    ).json();
    const started = (line: Record<string, unknown>) => line.msg === 'job started' && line.job === job.id;
    const first = await Promise.race(workers.map((w) => w.line(started).then(() => w)));
    await fake.waitFor((s) => (s.requests[0]?.tokens ?? 0) > 0);
    const reading = author.get(job.events);
    first.child.kill('SIGKILL');
    const events = parseSse((await reading).body);
    expect(events.at(-1)).toMatchObject({ event: 'error', data: { code: 'worker_lost' } });
    const failed = (await author.get(`/api/v1/ai/generations/${job.id}`)).json();
    expect(failed).toMatchObject({
      status: 'failed',
      error: 'worker_lost: job stalled more than allowable limit',
    });
    // Nobody started it again.
    expect(fake.stats.requests).toHaveLength(1);
  });
});
