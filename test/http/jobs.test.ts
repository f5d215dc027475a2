import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { webhookSecret } from '../../src/modules/ai/webhooks.js';
import { defaultReply, type FakeModelServer, startFakeModelServer } from '../fakes/model-server.js';
import { Client, createTestApp, signedIn, type TestApp } from '../helpers/app.js';
import { parseSse, textOf } from '../helpers/sse.js';

interface Received {
  body: string;
  signature: string;
  delivery: string;
}

/** A webhook receiver: answers each POST with the next status in `answers` (then 200). */
async function receiver(answers: number[] = []) {
  const received: Received[] = [];
  const server: Server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    request.on('end', () => {
      received.push({
        body,
        signature: String(request.headers['inkstone-signature']),
        delivery: String(request.headers['inkstone-delivery']),
      });
      response.writeHead(answers.shift() ?? 200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return { received, answers, port, url: `http://127.0.0.1:${port}/hook`, close: () => server.close() };
}

// Jobs against the fake model server (a simulator), in the in-process queue.
describe('AI generation jobs', () => {
  let fake: FakeModelServer;
  let hooks: Awaited<ReturnType<typeof receiver>>;
  let site: TestApp;
  let author: { client: Client; user: { id: number } };

  beforeAll(async () => {
    fake = await startFakeModelServer({ interTokenMs: 1 });
    hooks = await receiver();
    site = await createTestApp('sqlite', {
      AI_PROVIDER: 'ollama',
      AI_BASE_URL: fake.url,
      AI_REQUESTS_PER_MINUTE: '1000',
      WEBHOOK_ALLOW_HOSTS: `127.0.0.1:${hooks.port}`,
      WEBHOOK_ATTEMPTS: '3',
    });
    author = await signedIn(site.app, 'author');
  });
  beforeEach(() => {
    fake.set({ faults: [], fault: null, interTokenMs: 1 });
    fake.resetStats();
    hooks.received.length = 0;
  });
  afterAll(async () => {
    await site?.close();
    await fake?.close();
    hooks?.close();
  });

  const submit = (client: Client, body: object, headers: Record<string, string> = {}) =>
    client.request({
      method: 'POST',
      url: '/api/v1/ai/generations',
      headers: { 'content-type': 'application/json', 'x-csrf-token': client.csrf, ...headers },
      payload: JSON.stringify(body),
    });
  const waitFor = async (client: Client, id: string, status: string) => {
    let job = (await client.get(`/api/v1/ai/generations/${id}`)).json();
    for (let i = 0; job.status !== status && i < 200; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      job = (await client.get(`/api/v1/ai/generations/${id}`)).json();
    }
    return job;
  };

  it('answers 202 at once, then the job completes with output, usage and timings', async () => {
    fake.set({ interTokenMs: 5 });
    const response = await submit(author.client, { kind: 'titles', text: 'Notes on tea' });
    expect(response.statusCode).toBe(202);
    const job = response.json();
    expect(job).toMatchObject({
      kind: 'titles',
      status: 'running',
      events: `/api/v1/ai/generations/${job.id}/events`,
    });
    expect(response.headers.location).toBe(`/api/v1/ai/generations/${job.id}`);
    const done = await waitFor(author.client, job.id, 'completed');
    const prompt = (fake.stats.requests[0]!.body as { messages: { role: 'user'; content: string }[] })
      .messages;
    expect(done.output).toBe(defaultReply(prompt.slice(-1), 'glm4'));
    expect(done).toMatchObject({ model: 'glm4', error: null, webhook: null });
    expect(done.usage.completionTokens).toBeGreaterThan(0);
    expect(done.durationMs).toBeGreaterThanOrEqual(0);

    // The events stream by the job's id, and from the middle with Last-Event-ID.
    const all = parseSse((await author.client.get(done.events)).body);
    expect(textOf(all)).toBe(done.output);
    const rest = parseSse((await author.client.get(done.events, { 'last-event-id': '3' })).body);
    expect(rest[0]!.id).toBe('4');
    expect(fake.stats.requests).toHaveLength(1);
  });

  it('makes a retried submission the same job with an Idempotency-Key, and refuses the key for another body', async () => {
    const body = { kind: 'tags', text: 'Idempotent tea' };
    const first = await submit(author.client, body, { 'idempotency-key': 'batch-1/item-7' });
    const again = await submit(author.client, body, { 'idempotency-key': 'batch-1/item-7' });
    expect(first.statusCode).toBe(202);
    expect(again.statusCode).toBe(200);
    expect(again.json().id).toBe(first.json().id);
    const other = await submit(
      author.client,
      { ...body, text: 'Other' },
      { 'idempotency-key': 'batch-1/item-7' },
    );
    expect(other.statusCode).toBe(409);
    expect(other.json().error.fields).toHaveProperty('Idempotency-Key');
    await waitFor(author.client, first.json().id, 'completed');
    expect(fake.stats.requests).toHaveLength(1);
  });

  it('cancels a running job: the model call stops, and a finished job cannot be cancelled', async () => {
    fake.set({ interTokenMs: 50 });
    const job = (await submit(author.client, { kind: 'draft', title: 'Cancel me' })).json();
    await fake.waitFor((s) => s.inFlight === 1);
    const cancelled = await author.client.request({
      method: 'DELETE',
      url: `/api/v1/ai/generations/${job.id}`,
      headers: { 'x-csrf-token': author.client.csrf },
    });
    expect(cancelled.statusCode).toBe(204);
    expect((await author.client.get(`/api/v1/ai/generations/${job.id}`)).json().status).toBe('cancelled');
    await fake.waitFor((s) => s.inFlight === 0);
    expect(fake.stats.requests[0]!.aborted).toBe(true);
    const again = await author.client.request({
      method: 'DELETE',
      url: `/api/v1/ai/generations/${job.id}`,
      headers: { 'x-csrf-token': author.client.csrf },
    });
    expect(again.statusCode).toBe(409);
  });

  it('POSTs the finished job to the callback URL, signed with the user’s secret, retrying a 500', async () => {
    hooks.answers.push(500);
    const job = (
      await submit(author.client, { kind: 'tags', text: 'Webhook tea', callbackUrl: hooks.url })
    ).json();
    expect(job.callbackUrl).toBe(hooks.url);
    const done = await waitFor(author.client, job.id, 'completed');
    let view = done;
    for (let i = 0; view.webhook.status === 'pending' && i < 200; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      view = (await author.client.get(`/api/v1/ai/generations/${job.id}`)).json();
    }
    expect(view.webhook.status).toBe('delivered');
    const delivery = hooks.received.at(-1);
    expect(JSON.parse(delivery!.body)).toMatchObject({
      id: job.id,
      status: 'completed',
      output: done.output,
    });
    const [stamp, v1] = delivery!.signature.split(',').map((part) => part.slice(part.indexOf('=') + 1));
    const secret = webhookSecret(site.app.config.sessionSecret, author.user.id);
    expect(createHmac('sha256', secret).update(`${stamp}.${delivery!.body}`).digest('hex')).toBe(v1);
    // The first attempt got the 500, the second delivered; both are on the record.
    expect(hooks.received).toHaveLength(2);
    expect(hooks.received[1]!.delivery).toBe(hooks.received[0]!.delivery);
    expect(view.webhook.attempts).toMatchObject([
      { attempt: 1, status: 500 },
      { attempt: 2, status: 200 },
    ]);
  });

  it('names a bad callback URL, and keeps jobs private to their owner and admins', async () => {
    const bad = await submit(author.client, {
      kind: 'tags',
      text: 'x',
      callbackUrl: 'ftp://example.com/hook',
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.fields).toHaveProperty('callbackUrl');

    const job = (await submit(author.client, { kind: 'tags', text: 'Private tea' })).json();
    const { client: stranger } = await signedIn(site.app, 'author');
    expect((await stranger.get(`/api/v1/ai/generations/${job.id}`)).statusCode).toBe(404);
    expect((await stranger.get(`/api/v1/ai/generations/${job.id}/events`)).statusCode).toBe(404);
    const { client: admin } = await signedIn(site.app, 'admin');
    expect((await admin.get(`/api/v1/ai/generations/${job.id}`)).statusCode).toBe(200);
    const { client: reader } = await signedIn(site.app, 'reader');
    expect((await submit(reader, { kind: 'tags', text: 'x' })).statusCode).toBe(403);
    expect((await author.client.get('/api/v1/ai/generations/no-such-job')).statusCode).toBe(404);
  });

  it('lists a user’s jobs on "My generations", and everyone’s to an admin', async () => {
    const { client, user } = await signedIn(site.app, 'author');
    const job = (await submit(client, { kind: 'tags', text: 'Listed tea' })).json();
    await waitFor(client, job.id, 'completed');
    const mine = await client.get('/my/generations');
    expect(mine.statusCode).toBe(200);
    expect(mine.body).toContain('Echo: Suggest three to six short tags');
    expect(mine.body).toContain('completed');
    const { client: other } = await signedIn(site.app, 'author');
    expect((await other.get('/my/generations')).body).not.toContain('Listed tea');
    const { client: admin } = await signedIn(site.app, 'admin');
    const all = await admin.get('/my/generations?all=1');
    expect(all.body).toContain('All generations');
    expect(all.body).toContain(`@${user.username}`);
    expect((await new Client(site.app).get('/my/generations')).statusCode).toBe(302);
  });
});
