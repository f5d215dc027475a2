import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeModelServer, startFakeModelServer } from '../fakes/model-server.js';
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from '../fakes/otlp-receiver.js';
import { Client, createTestApp, createUser, signedIn, type TestApp } from '../helpers/app.js';
import { availableDialects } from '../helpers/db.js';
import { parseSse } from '../helpers/sse.js';
import { callerTrace, hookReceiver, TRACEPARENT } from '../helpers/trace.js';

const SERVER = 2;
const CLIENT = 3;

const childrenOf = (spans: ReceivedSpan[], parent: ReceivedSpan) =>
  spans.filter((s) => s.parentSpanId === parent.spanId && s.traceId === parent.traceId);

// Spans exported over OTLP/HTTP to a fake collector, from a real app and the fake model server.
describe('trace export (OTEL_EXPORTER_OTLP_ENDPOINT)', () => {
  let otlp: OtlpReceiver;
  let fake: FakeModelServer;
  let hooks: Awaited<ReturnType<typeof hookReceiver>>;
  let site: TestApp;

  beforeAll(async () => {
    otlp = await startOtlpReceiver();
    fake = await startFakeModelServer({ ttftMs: 5, interTokenMs: 1 });
    hooks = await hookReceiver();
    site = await createTestApp('sqlite', {
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      OTEL_SERVICE_NAME: 'inkstone-under-test',
      AI_PROVIDER: 'ollama',
      AI_BASE_URL: fake.url,
      AI_REQUESTS_PER_MINUTE: '1000',
      WEBHOOK_ALLOW_HOSTS: `127.0.0.1:${hooks.port}`,
    });
  });
  afterAll(async () => {
    await site?.close();
    await fake?.close();
    await otlp?.close();
    hooks?.close();
  });

  /** A published post, written through the service as its author. */
  async function publish(title: string, body: string) {
    const user = await createUser(site.app, 'author');
    const actor = {
      id: user.id,
      username: user.username,
      displayName: user.username,
      role: 'author' as const,
    };
    return site.app.services.posts.create({ title, body, status: 'published' }, actor);
  }

  /** The spans of one trace, once its request span (named `name`) has been exported. */
  async function traceOf(name: string, traceId?: string) {
    await site.app.tracing!.flush();
    const [request] = await otlp.waitFor(
      (s) => s.name === name && s.kind === SERVER && (traceId === undefined || s.traceId === traceId),
    );
    return { request: request!, spans: otlp.spans.filter((s) => s.traceId === request!.traceId) };
  }

  it('exports a page request as a server span with its queries and cache lookups as children', async () => {
    await publish('Traced tea', 'A post with a value nobody should see in a span: secret-steeping-time-42.');
    otlp.reset();
    const page = await new Client(site.app).get('/');
    expect(page.statusCode).toBe(200);

    const { request, spans } = await traceOf('GET /');
    expect(request.parentSpanId).toBe('');
    expect(request.attributes).toMatchObject({
      'http.request.method': 'GET',
      'http.route': '/',
      'http.response.status_code': 200,
    });
    expect(request.attributes['inkstone.client_aborted']).toBeUndefined();
    expect(request.resource['service.name']).toBe('inkstone-under-test');
    expect(request.endTimeUnixNano).toBeGreaterThan(request.startTimeUnixNano);

    const children = childrenOf(spans, request);
    const queries = children.filter((s) => s.attributes['db.system.name'] === 'sqlite');
    expect(queries.length).toBeGreaterThan(0);
    const listing = queries.find((s) => /from "posts"/.test(String(s.attributes['db.query.text'])));
    expect(listing, queries.map((s) => s.name).join(', ')).toBeDefined();
    expect(listing!.name).toBe('SELECT posts');
    expect(listing!.kind).toBe(CLIENT);
    // Values are bound, never in the text: the post's body is in the row, not in the span.
    for (const query of queries)
      expect(String(query.attributes['db.query.text'])).not.toContain('secret-steeping');
    // Each child lies within its parent.
    for (const child of children) {
      expect(child.startTimeUnixNano).toBeGreaterThanOrEqual(request.startTimeUnixNano);
      expect(child.endTimeUnixNano).toBeLessThanOrEqual(request.endTimeUnixNano);
    }

    const lookups = children.filter((s) => s.name.startsWith('cache '));
    const pageLookup = lookups.find((s) => s.attributes['inkstone.cache.namespace'] === 'pages');
    expect(pageLookup, lookups.map((s) => s.name).join(', ')).toBeDefined();
    expect(pageLookup).toMatchObject({
      name: 'cache pages',
      attributes: { 'inkstone.cache.hit': false, 'inkstone.cache.outcome': 'miss' },
    });
  });

  it('traces an anonymous page-cache hit too: the front door steps aside while spans are exported', async () => {
    await publish('Tea for everyone', 'Read by visitors.');
    await site.app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = site.app.server.address() as AddressInfo;
    const url = `http://127.0.0.1:${port}/tags`;
    expect((await fetch(url)).status).toBe(200);
    otlp.reset();
    const caller = callerTrace();
    const hit = await fetch(url, { headers: { traceparent: caller.header } });
    expect(hit.status).toBe(200);
    expect(hit.headers.get('x-page-cache')).toBe('hit');
    const { request, spans } = await traceOf('GET /tags', caller.traceId);
    const lookup = childrenOf(spans, request).find((s) => s.name === 'cache pages');
    expect(lookup?.attributes['inkstone.cache.hit']).toBe(true);
  });

  it('marks a cache hit, and keeps the trace id of an incoming traceparent as the parent', async () => {
    const { client } = await signedIn(site.app, 'reader');
    const post = await publish('Cached tea', 'Read twice.');
    const path = `/posts/${post.slug}`;
    expect((await client.get(path)).statusCode).toBe(200);
    otlp.reset();
    const caller = callerTrace();
    expect((await client.get(path, { traceparent: caller.header })).statusCode).toBe(200);

    const { request, spans } = await traceOf('GET /posts/:slug', caller.traceId);
    expect(request.traceId).toBe(caller.traceId);
    expect(request.parentSpanId).toBe(caller.spanId);
    const hits = childrenOf(spans, request).filter((s) => s.attributes['inkstone.cache.hit'] === true);
    expect(
      hits.map((s) => s.name),
      spans.map((s) => `${s.name} ${JSON.stringify(s.attributes)}`).join('\n'),
    ).not.toHaveLength(0);
    expect(hits[0]!.attributes['inkstone.cache.layer']).toBe('l1');
  });

  it('exports an AI draft: the model call as a child with first_token and tokens, its traceparent sent to the model server', async () => {
    const { client } = await signedIn(site.app, 'author');
    fake.resetStats();
    otlp.reset();
    const caller = callerTrace();
    const response = await client.request({
      method: 'POST',
      url: '/api/v1/ai/write',
      headers: {
        'content-type': 'application/json',
        'x-csrf-token': client.csrf,
        traceparent: caller.header,
      },
      payload: JSON.stringify({ kind: 'draft', title: 'Tea in a traced winter' }),
    });
    expect(response.statusCode).toBe(200);
    const done = parseSse(response.body).at(-1)!;
    expect(done.event).toBe('done');

    const { request, spans } = await traceOf('POST /api/v1/ai/write', caller.traceId);
    await otlp.waitFor((s) => s.traceId === caller.traceId && s.name === 'chat glm4');
    const model = otlp.spans.find((s) => s.traceId === caller.traceId && s.name === 'chat glm4')!;
    expect(model.parentSpanId).toBe(request.spanId);
    expect(model.kind).toBe(CLIENT);
    expect(model.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'ollama',
      'gen_ai.request.model': 'glm4',
      'gen_ai.response.model': 'glm4',
      'gen_ai.usage.input_tokens': done.data.usage.promptTokens,
      'gen_ai.usage.output_tokens': done.data.usage.completionTokens,
      'inkstone.ai.provider': 'main',
    });
    expect(done.data.usage.completionTokens).toBeGreaterThan(0);
    const firstToken = model.events.find((e) => e.name === 'first_token');
    expect(firstToken, model.events.map((e) => e.name).join(', ')).toBeDefined();
    expect(firstToken!.timeUnixNano).toBeGreaterThan(model.startTimeUnixNano);
    expect(firstToken!.timeUnixNano).toBeLessThan(model.endTimeUnixNano);
    expect(firstToken!.attributes['inkstone.ai.ttft_ms']).toBeGreaterThanOrEqual(4);
    expect(spans.filter((s) => s.name === 'chat glm4')).toHaveLength(1);

    // The model server was called as the model span's child, in the caller's trace.
    const sent = fake.stats.requests.at(-1)!.headers.traceparent;
    expect(sent).toBe(`00-${caller.traceId}-${model.spanId}-01`);
  });

  it("sends a job's webhook with the submitting request's trace id and a fresh span id", async () => {
    const { client } = await signedIn(site.app, 'author');
    const caller = callerTrace();
    const submitted = await client.request({
      method: 'POST',
      url: '/api/v1/ai/generations',
      headers: {
        'content-type': 'application/json',
        'x-csrf-token': client.csrf,
        traceparent: caller.header,
      },
      payload: JSON.stringify({ kind: 'tags', text: 'Traced webhook tea', callbackUrl: hooks.url }),
    });
    expect(submitted.statusCode).toBe(202);
    for (let i = 0; hooks.received.length === 0 && i < 300; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const header = String(hooks.received.at(-1)?.traceparent);
    const [, traceId, spanId, flags] = TRACEPARENT.exec(header) ?? [];
    expect(traceId, header).toBe(caller.traceId);
    expect(spanId).not.toBe(caller.spanId);
    expect(flags).toBe('01');
    // Not the request's own span id: the delivery's span (test/tracing/webhook-span.test.ts).
    const { request } = await traceOf('POST /api/v1/ai/generations', caller.traceId);
    expect(spanId).not.toBe(request.spanId);
  });
});

describe.each(await availableDialects())('query spans on %s', (dialect) => {
  let otlp: OtlpReceiver;
  let site: TestApp;

  beforeAll(async () => {
    otlp = await startOtlpReceiver();
    site = await createTestApp(dialect, { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url });
  });
  afterAll(async () => {
    await site?.close();
    await otlp?.close();
  });

  it('name the database and keep the SQL with placeholders, never the values', async () => {
    const user = await createUser(site.app, 'reader');
    otlp.reset();
    const client = new Client(site.app);
    await client.login(user.username, user.password);
    await site.app.tracing!.flush();
    const [login] = await otlp.waitFor((s) => s.name === 'POST /api/v1/auth/login');
    const queries = childrenOf(otlp.spans, login!).filter((s) => 'db.query.text' in s.attributes);
    const lookup = queries.find((s) => s.name === 'SELECT users');
    expect(lookup, queries.map((s) => s.name).join(', ')).toBeDefined();
    expect(lookup!.attributes['db.system.name']).toBe(dialect === 'postgres' ? 'postgresql' : 'sqlite');
    expect(String(lookup!.attributes['db.query.text'])).toMatch(dialect === 'postgres' ? /\$1/ : /\?/);
    for (const query of queries) {
      const text = String(query.attributes['db.query.text']);
      expect(text).not.toContain(user.username);
      expect(text).not.toContain(user.email);
      expect(text).not.toContain(user.password);
    }
  });
});
