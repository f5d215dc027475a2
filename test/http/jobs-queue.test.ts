import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { closeRedis } from '../../src/plugins/redis.js';
import { defaultReply, type FakeModelServer, startFakeModelServer } from '../fakes/model-server.js';
import { Client, createSecondApp, createTestApp, signedIn } from '../helpers/app.js';
import {
  connectTestRedis,
  deleteKeys,
  REDIS_URL,
  redisAvailable,
  startOwnRedis,
  testPrefix,
} from '../helpers/redis.js';
import { parseSse, textOf } from '../helpers/sse.js';

// Jobs with REDIS_URL set: queued in BullMQ, run by a worker (in a web process here; see
// test/queue/worker-crash.test.ts for `inkstone worker` processes), their events relayed
// through a Redis Stream to whichever instance reads them.

let fake: FakeModelServer;
let direct: Redis;
const cleanup: (() => Promise<unknown>)[] = [];

const available = await redisAvailable();

beforeAll(async () => {
  fake = await startFakeModelServer({ interTokenMs: 1 });
  if (available) direct = await connectTestRedis();
});
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
  fake.set({ interTokenMs: 1 });
  fake.resetStats();
});
afterAll(async () => {
  await fake?.close();
  if (direct) await closeRedis(direct);
});

interface Instances {
  a: FastifyInstance;
  b: FastifyInstance;
  onA: Client;
  onB: Client;
  prefix: string;
}

/**
 * Two instances on one database and one Redis: A only queues (AI_WEB_WORKER_CONCURRENCY=0),
 * B runs the jobs (unless `bEnv` says otherwise). One signed-in session valid on both.
 */
async function instances(env: Record<string, string> = {}, bEnv: Record<string, string> = {}) {
  const prefix = testPrefix();
  const full = {
    AI_PROVIDER: 'ollama',
    AI_BASE_URL: fake.url,
    AI_REQUESTS_PER_MINUTE: '1000',
    REDIS_URL,
    REDIS_PREFIX: prefix,
    AI_WEB_WORKER_CONCURRENCY: '0',
    ...env,
  };
  cleanup.push(() => deleteKeys(direct, prefix));
  const first = await createTestApp('sqlite', full);
  cleanup.push(() => first.close());
  const b = await createSecondApp(first, { ...full, AI_WEB_WORKER_CONCURRENCY: '2', ...bEnv });
  // Before A's close (cleanup runs in reverse): B's workers end while the database is open.
  cleanup.push(() => b.close());
  const { client: onA } = await signedIn(first.app, 'author');
  const onB = new Client(b);
  for (const [name, value] of onA.cookies) onB.cookies.set(name, value);
  return { a: first.app, b, onA, onB, prefix } satisfies Instances;
}

const submit = (client: Client, body: object, headers: Record<string, string> = {}) =>
  client.request({
    method: 'POST',
    url: '/api/v1/ai/generations',
    headers: { 'content-type': 'application/json', 'x-csrf-token': client.csrf, ...headers },
    payload: JSON.stringify(body),
  });
const cancel = (client: Client, id: string) =>
  client.request({
    method: 'DELETE',
    url: `/api/v1/ai/generations/${id}`,
    headers: { 'x-csrf-token': client.csrf },
  });

// Polls the job, as a client of the jobs API does (there is no event for "the row changed").
async function waitFor(client: Client, id: string, status: string) {
  let job = (await client.get(`/api/v1/ai/generations/${id}`)).json();
  for (let i = 0; job.status !== status && i < 500; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    job = (await client.get(`/api/v1/ai/generations/${id}`)).json();
  }
  return job;
}

/** A webhook receiver that records each POST's body and delivery id. */
async function receiver() {
  const bodies: string[] = [];
  const deliveries: string[] = [];
  const server: Server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    request.on('end', () => {
      bodies.push(body);
      deliveries.push(String(request.headers['inkstone-delivery']));
      response.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  cleanup.push(() => new Promise((resolve) => server.close(resolve)));
  return { bodies, deliveries, port, url: `http://127.0.0.1:${port}/hook` };
}

describe.skipIf(!available)('AI jobs through BullMQ and Redis', () => {
  it('queue at once (202, queued), run on a worker, and stream from Redis on the instance that took them, resuming after Last-Event-ID', async () => {
    const hooks = await receiver();
    const { a, b, onA, prefix } = await instances({ WEBHOOK_ALLOW_HOSTS: `127.0.0.1:${hooks.port}` });
    fake.set({ interTokenMs: 20 });
    const response = await submit(onA, { kind: 'titles', text: 'Notes on tea', callbackUrl: hooks.url });
    expect(response.statusCode).toBe(202);
    const job = response.json();
    expect(job).toMatchObject({ status: 'queued', events: `/api/v1/ai/generations/${job.id}/events` });

    // Read on A while B's worker writes: what came before, then the live tail, to the end.
    await fake.waitFor((s) => s.inFlight === 1 && s.requests[0]!.tokens >= 2);
    const reading = onA.get(job.events);
    // The answer so far, from the stream, while it runs.
    let running = (await onA.get(`/api/v1/ai/generations/${job.id}`)).json();
    for (let i = 0; running.output === '' && i < 200; i++) {
      running = (await onA.get(`/api/v1/ai/generations/${job.id}`)).json();
    }
    expect(running.status).toBe('running');
    const events = parseSse((await reading).body);
    const done = await waitFor(onA, job.id, 'completed');
    const prompt = (fake.stats.requests[0]!.body as { messages: { role: 'user'; content: string }[] })
      .messages;
    expect(done.output).toBe(defaultReply(prompt.slice(-1), 'glm4'));
    expect(textOf(events)).toBe(done.output);
    expect(running.output.length).toBeGreaterThan(0);
    expect(done.output.startsWith(running.output)).toBe(true);
    expect(events.map((e) => Number(e.id))).toEqual(events.map((_, i) => i));
    expect(events.at(-1)).toMatchObject({ event: 'done', data: { model: 'glm4', cached: false } });
    expect(fake.stats.requests).toHaveLength(1);
    // B ran the generation; A never had it in memory.
    const generationId = events[0]!.data.generationId as string;
    expect(b.services.ai.find(generationId)).toBeDefined();
    expect(a.services.ai.find(generationId)).toBeUndefined();

    const rest = parseSse((await onA.get(job.events, { 'last-event-id': '3' })).body);
    expect(rest[0]!.id).toBe('4');
    expect(textOf(rest)).toBe(textOf(events.slice(4)));

    // The stream is bounded in time once it has ended.
    const ttl = await direct.ttl(`${prefix}ai:events:${job.id}`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(3600);

    // The webhook is sent once, by the worker that ended the job.
    let view = done;
    for (let i = 0; view.webhook.status === 'pending' && i < 200; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      view = (await onA.get(`/api/v1/ai/generations/${job.id}`)).json();
    }
    expect(view.webhook.status).toBe('delivered');
    expect(hooks.bodies).toHaveLength(1);
    expect(JSON.parse(hooks.bodies[0]!)).toMatchObject({
      id: job.id,
      status: 'completed',
      output: done.output,
    });
  });

  it('send the webhook of a job whose worker died after recording its end but before reporting it', async () => {
    const hooks = await receiver();
    const { a, b, onA } = await instances({ WEBHOOK_ALLOW_HOSTS: `127.0.0.1:${hooks.port}` });
    const job = (await submit(onA, { kind: 'tags', text: 'Reported late', callbackUrl: hooks.url })).json();
    await waitFor(onA, job.id, 'completed');
    const webhookStatus = async () =>
      (await onA.get(`/api/v1/ai/generations/${job.id}`)).json().webhook.status;
    await expect.poll(webhookStatus).toBe('delivered');
    expect(hooks.bodies).toHaveLength(1);
    // As if the worker had died right after writing the row: the webhook still pending, and
    // BullMQ handing the job (whose lock lapsed) to another worker.
    await a.database.db
      .updateTable('ai_jobs')
      .set({ webhook_status: 'pending' })
      .where('id', '=', job.id)
      .execute();
    const outcome = await b.services.jobRunner!.run(job.id, {
      signal: new AbortController().signal,
      handingBack: () => false,
      restarts: 1,
    });
    expect(outcome).toEqual({ kind: 'finished' });
    expect(hooks.bodies).toHaveLength(2);
    expect(JSON.parse(hooks.bodies[1]!)).toMatchObject({ id: job.id, status: 'completed' });
    // The same event reported again: the receiver can tell it is a repeat.
    expect(hooks.deliveries).toEqual([job.id, job.id]);
    expect(await webhookStatus()).toBe('delivered');
    const { attempts } = (await onA.get(`/api/v1/ai/generations/${job.id}`)).json().webhook;
    expect(attempts.map((a: { attempt: number }) => a.attempt)).toEqual([1, 2]);
    expect(fake.stats.requests).toHaveLength(1);
  });

  it('take the limit at submit (429 there), and the worker does not take it again', async () => {
    const { onA, onB } = await instances({ AI_REQUESTS_PER_MINUTE: '3' });
    const first = (await submit(onA, { kind: 'tags', text: 'Limited tea' })).json();
    const second = (await submit(onB, { kind: 'tags', text: 'More limited tea' })).json();
    await waitFor(onA, first.id, 'completed');
    await waitFor(onA, second.id, 'completed');
    // Two taken by the submissions, none by the workers: one left for the editor.
    const write = await onA.api('POST', '/api/v1/ai/write', { kind: 'titles', text: 'x', stream: false });
    expect(write.statusCode).toBe(200);
    expect(write.headers['ratelimit-remaining']).toBe('0');
    const refused = await submit(onA, { kind: 'tags', text: 'One too many' });
    expect(refused.statusCode).toBe(429);
    expect(refused.json().error.code).toBe('rate_limited');
  });

  it('wait in the queue while the user already has their share of the model running, instead of failing', async () => {
    // One generation per user at a time; the worker could run two.
    const { onA } = await instances({ AI_USER_CONCURRENCY: '1' });
    fake.set({ interTokenMs: 10 });
    const jobs = await Promise.all(
      ['First pot', 'Second pot'].map(async (text) => (await submit(onA, { kind: 'tags', text })).json()),
    );
    const done = await Promise.all(jobs.map((job) => waitFor(onA, job.id, 'completed')));
    expect(done.map((job) => job.status)).toEqual(['completed', 'completed']);
    expect(fake.stats.requests).toHaveLength(2);
    expect(fake.stats.maxInFlight).toBe(1);
  });

  it('refuse a bad job at submit, before it is queued', async () => {
    const { onA } = await instances();
    const missing = await submit(onA, { kind: 'rewrite', text: '' });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().error.fields).toHaveProperty('text');
    const model = await submit(onA, { kind: 'tags', text: 'x', model: 'nope' });
    expect(model.statusCode).toBe(400);
    expect(model.json().error.fields).toHaveProperty('model');
    expect(fake.stats.requests).toHaveLength(0);
  });

  it('cancel on one instance a job running on the worker of another: the model call stops', async () => {
    const { onA } = await instances();
    fake.set({ interTokenMs: 50 });
    const job = (await submit(onA, { kind: 'draft', title: 'Cancel me elsewhere' })).json();
    await fake.waitFor((s) => s.inFlight === 1 && (s.requests[0]?.tokens ?? 0) > 0);
    expect((await cancel(onA, job.id)).statusCode).toBe(204);
    expect((await onA.get(`/api/v1/ai/generations/${job.id}`)).json().status).toBe('cancelled');
    await fake.waitFor((s) => s.inFlight === 0);
    expect(fake.stats.requests[0]!.aborted).toBe(true);
    const events = parseSse((await onA.get(job.events)).body);
    expect(events.at(-1)).toMatchObject({ event: 'error', data: { code: 'cancelled' } });
    expect((await cancel(onA, job.id)).statusCode).toBe(409);
  });

  it('cancel a job no worker has taken yet: it leaves the queue and its stream ends', async () => {
    // No worker anywhere: B only queues too.
    const { a, onA, prefix } = await instances({}, { AI_WEB_WORKER_CONCURRENCY: '0' });
    const job = (await submit(onA, { kind: 'tags', text: 'Never run' })).json();
    expect(await a.services.jobQueue!.state(job.id)).toMatchObject({ state: 'waiting' });
    expect((await cancel(onA, job.id)).statusCode).toBe(204);
    expect(await a.services.jobQueue!.state(job.id)).toEqual({ state: 'unknown' });
    const events = parseSse((await onA.get(job.events)).body);
    expect(events).toMatchObject([{ id: '0', event: 'error', data: { code: 'cancelled' } }]);
    // Once an ended job's stream has expired there is nothing to resume (no waiting on it).
    await direct.del(`${prefix}ai:events:${job.id}`);
    expect((await onA.get(job.events)).statusCode).toBe(404);
    expect(fake.stats.requests).toHaveLength(0);
  });

  it('fail a job BullMQ no longer has (nobody will run it) when it is read, and end its stream', async () => {
    const prefix = testPrefix();
    cleanup.push(() => deleteKeys(direct, prefix));
    let later = 0;
    const site = await createTestApp(
      'sqlite',
      {
        AI_PROVIDER: 'ollama',
        AI_BASE_URL: fake.url,
        REDIS_URL,
        REDIS_PREFIX: prefix,
        AI_WEB_WORKER_CONCURRENCY: '0',
      },
      { clock: { now: () => new Date(Date.now() + later) } },
    );
    cleanup.push(() => site.close());
    const { client } = await signedIn(site.app, 'author');
    const job = (await submit(client, { kind: 'tags', text: 'Lost tea' })).json();
    // Gone from the queue behind the app's back (a flushed Redis, a removed key).
    await site.app.services.jobQueue!.remove(job.id);
    // Just submitted, it may still be on its way into the queue: left alone.
    expect((await client.get(`/api/v1/ai/generations/${job.id}`)).json().status).toBe('queued');
    later = 11_000;
    const lost = (await client.get(`/api/v1/ai/generations/${job.id}`)).json();
    expect(lost).toMatchObject({ status: 'failed', error: 'worker_lost: the job is no longer in the queue' });
    const events = parseSse((await client.get(job.events)).body);
    expect(events.at(-1)).toMatchObject({ event: 'error', data: { code: 'worker_lost' } });
  });

  it('answer 503 at once when Redis is away, and go on serving pages', async () => {
    const own = await startOwnRedis();
    if (!own) return;
    cleanup.push(() => own.stop());
    const { onA } = await instances({ REDIS_URL: own.url }, { AI_WEB_WORKER_CONCURRENCY: '0' });
    await own.stop();
    const started = performance.now();
    const refused = await submit(onA, { kind: 'tags', text: 'No Redis' }, { 'idempotency-key': 'k1' });
    expect(performance.now() - started).toBeLessThan(2500);
    expect(refused.statusCode).toBe(503);
    expect(refused.json().error.code).toBe('queue_unavailable');
    expect(refused.headers['retry-after']).toBe('5');
    expect((await onA.get('/')).statusCode).toBe(200);
    expect((await onA.get('/healthz')).statusCode).toBe(200);
  });
});
