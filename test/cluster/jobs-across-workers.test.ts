import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import type { DbHandle } from '../../src/db/index.js';
import { openDatabase } from '../../src/db/migrate.js';
import { toActor } from '../../src/modules/users/service.js';
import { createServices } from '../../src/services.js';
import { type FakeModelServer, startFakeModelServer } from '../fakes/model-server.js';
import { parseSse, textOf } from '../helpers/sse.js';
import { type Answer, type Cluster, call, startCluster } from './cli.js';

// AI jobs under `inkstone serve --workers 2` without Redis: a job runs in the worker that took
// it, and the other worker reads, follows and cancels it through the primary. Every request has
// its connection (round-robin between the workers); x-inkstone-worker names who answered.

// 30 tokens, one every 100 ms: a job runs about 3 s.
const ANSWER = Array.from({ length: 30 }, (_, i) => `word${i}`).join(' ');

describe('AI jobs across the workers of serve --workers 2 (SQLite, no Redis)', () => {
  let cluster: Cluster;
  let port: number;
  let handle: DbHandle;
  let token: string;
  let fake: FakeModelServer;

  /** A request answered by a worker other than `owner` (connections go round-robin). */
  async function elsewhere(owner: string, method: string, path: string): Promise<Answer> {
    for (let i = 0; i < 20; i++) {
      // The owner answers this one, so the next connection goes to the other worker.
      const probe = await call(port, 'GET', '/healthz');
      if (probe.worker !== owner) continue;
      const answer = await call(port, method, path, { token });
      if (answer.worker !== owner) return answer;
      // A GET answered by the owner is harmless; a DELETE would not test the relay.
      expect(method).toBe('GET');
    }
    throw new Error(`no answer from a worker other than ${owner}`);
  }

  async function submit(): Promise<{ id: string; owner: string }> {
    const created = await call(port, 'POST', '/api/v1/ai/generations', {
      token,
      body: {
        kind: 'titles',
        text: `Tea ${randomBytes(4).toString('hex')}`,
      },
    });
    expect(created.status, created.body).toBe(202);
    return { id: (JSON.parse(created.body) as { id: string }).id, owner: created.worker };
  }

  const job = (answer: Answer) =>
    JSON.parse(answer.body) as { status: string; output: string; error: string | null };

  beforeAll(async () => {
    fake = await startFakeModelServer({ interTokenMs: 100, reply: () => ANSWER });
    cluster = await startCluster('cluster-jobs', 2, {
      LOG_LEVEL: 'warn',
      AI_PROVIDER: 'ollama',
      AI_BASE_URL: fake.url,
      AI_REQUESTS_PER_MINUTE: '1000',
      // Every job a model call of its own (the generation cache would answer the same text).
      AI_CACHE_TTL_SECONDS: '0',
      SHUTDOWN_TIMEOUT_MS: '3000',
    });
    port = cluster.port;

    handle = (await openDatabase({ kind: 'sqlite', file: cluster.file })).handle;
    const services = createServices(handle, loadConfig({ NODE_ENV: 'test', AI_PROVIDER: 'none' }));
    const author = toActor(
      await services.users.create(
        { username: 'jobauthor', email: 'jobauthor@example.com', password: 'correct horse battery' },
        'author',
      ),
    );
    token = (await services.auth.createToken(author, 'cluster jobs test')).token;
  }, 120_000);

  afterAll(async () => {
    cluster?.kill();
    await handle?.close();
    await fake?.close();
  });

  it('reads a running job on the other worker, follows its events there, and sees it complete', async () => {
    const { id, owner } = await submit();
    const running = await elsewhere(owner, 'GET', `/api/v1/ai/generations/${id}`);
    expect(running.status, running.body).toBe(200);
    expect(job(running)).toMatchObject({ status: 'running', error: null });

    // The whole stream, relayed from the owner through the primary.
    const events = await elsewhere(owner, 'GET', `/api/v1/ai/generations/${id}/events`);
    expect(events.status, events.body).toBe(200);
    const parsed = parseSse(events.body);
    expect(textOf(parsed)).toBe(ANSWER);
    expect(parsed.at(-1)!.event).toBe('done');

    const done = await elsewhere(owner, 'GET', `/api/v1/ai/generations/${id}`);
    expect(job(done)).toMatchObject({ status: 'completed', output: ANSWER, error: null });
    // Ended, its events are still in the owner's memory for a while: followed from here too.
    const again = await elsewhere(owner, 'GET', `/api/v1/ai/generations/${id}/events`);
    expect(again.status, again.body).toBe(200);
    expect(textOf(parseSse(again.body))).toBe(ANSWER);
  }, 30_000);

  it('shows the answer so far on the other worker, and cancels the job from there', async () => {
    const { id, owner } = await submit();
    await new Promise((resolve) => setTimeout(resolve, 600));
    const partial = job(await elsewhere(owner, 'GET', `/api/v1/ai/generations/${id}`));
    expect(partial.status).toBe('running');
    expect(partial.output).toMatch(/^word0/);

    const cancelled = await elsewhere(owner, 'DELETE', `/api/v1/ai/generations/${id}`);
    expect(cancelled.status, cancelled.body).toBe(204);
    for (let i = 0; i < 2; i++) {
      const read = await call(port, 'GET', `/api/v1/ai/generations/${id}`, { token });
      expect(job(read)).toMatchObject({ status: 'cancelled' });
    }
    // The owner's model call stopped: the fake saw its client leave.
    await fake.waitFor((stats) => stats.requests.some((r) => r.outcome === 'aborted'), 3000);
  }, 30_000);

  it('fails a job as interrupted once the worker running it is killed', async () => {
    const { id, owner } = await submit();
    const other = await elsewhere(owner, 'GET', `/api/v1/ai/generations/${id}`);
    expect(job(other).status).toBe('running');
    process.kill(Number(owner), 'SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const read = await call(port, 'GET', `/api/v1/ai/generations/${id}`, { token });
    expect(read.worker).toBe(other.worker);
    expect(job(read)).toMatchObject({ status: 'failed' });
    expect(job(read).error).toMatch(/^interrupted: /);
  }, 30_000);
});
