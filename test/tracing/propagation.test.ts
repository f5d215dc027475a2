import { createRequire } from 'node:module';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FakeModelServer, startFakeModelServer } from '../fakes/model-server.js';
import { type Client, createTestApp, signedIn, type TestApp } from '../helpers/app.js';
import { parseSse } from '../helpers/sse.js';
import { callerTrace, hookReceiver, postJob, TRACEPARENT } from '../helpers/trace.js';
import { traceContexts } from '../../src/tracing/context.js';

const CALLER_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';

/** Modules Node has loaded from node_modules/@opentelemetry, by package. */
function loadedOtelPackages(): string[] {
  const cache = createRequire(import.meta.url).cache;
  const names = Object.keys(cache)
    .map((path) => /node_modules\/@opentelemetry\/([^/]+)\//.exec(path)?.[1])
    .filter((name): name is string => name !== undefined);
  return [...new Set(names)].sort();
}

// Without OTEL_EXPORTER_OTLP_ENDPOINT: no spans and no SDK, but model-server calls still carry
// a W3C traceparent in the request's trace.
describe('traceparent without trace export', () => {
  let fake: FakeModelServer;
  let site: TestApp;
  let author: Client;
  let hooks: Awaited<ReturnType<typeof hookReceiver>>;

  beforeAll(async () => {
    fake = await startFakeModelServer({ ttftMs: 2, interTokenMs: 1 });
    hooks = await hookReceiver();
    site = await createTestApp('sqlite', {
      AI_PROVIDER: 'ollama',
      AI_BASE_URL: fake.url,
      AI_REQUESTS_PER_MINUTE: '1000',
      AI_RETRY_MAX_DELAY_MS: '100',
      WEBHOOK_ALLOW_HOSTS: `127.0.0.1:${hooks.port}`,
    });
    author = (await signedIn(site.app, 'author')).client;
  });
  beforeEach(() => {
    fake.set({ faults: [], fault: null });
    fake.resetStats();
  });
  afterAll(async () => {
    await site?.close();
    await fake?.close();
    hooks?.close();
  });

  const draft = (title: string, headers: Record<string, string> = {}) =>
    author.request({
      method: 'POST',
      url: '/api/v1/ai/write',
      headers: { 'content-type': 'application/json', 'x-csrf-token': author.csrf, ...headers },
      payload: JSON.stringify({ kind: 'draft', title }),
    });

  const sentHeaders = () => fake.stats.requests.map((r) => String(r.headers.traceparent));

  it('loads no OpenTelemetry SDK and makes no Tracing', async () => {
    expect(site.app.tracing).toBeUndefined();
    expect(parseSse((await draft('Untraced tea')).body).at(-1)!.event).toBe('done');
    const loaded = loadedOtelPackages();
    expect(loaded).not.toContain('sdk-trace-base');
    expect(loaded).not.toContain('sdk-trace');
    expect(loaded).not.toContain('exporter-trace-otlp-http');
    // The check can see a loaded SDK: the API is loaded (the propagation uses it).
    expect(loaded).toContain('api');
  });

  it("passes the caller's trace id on to the model server with a span id of the call's own", async () => {
    const entered = traceContexts.entered;
    const response = await draft('Tea in a proxied winter', {
      traceparent: `00-${CALLER_TRACE}-${CALLER_SPAN}-01`,
    });
    expect(parseSse(response.body).at(-1)!.event).toBe('done');
    // Passed along explicitly: nothing entered AsyncLocalStorage, whose promise hook, once on,
    // every promise in the process would pay for.
    expect(traceContexts.entered).toBe(entered);
    const [header] = sentHeaders();
    const [, traceId, spanId, flags] = TRACEPARENT.exec(header!) ?? [];
    expect(traceId, header).toBe(CALLER_TRACE);
    expect(spanId).not.toBe(CALLER_SPAN);
    expect(spanId).not.toBe('0'.repeat(16));
    // The caller's sampling decision goes on with it.
    expect(flags).toBe('01');
  });

  it('gives a request without traceparent a trace of its own, shared by its retries, each with a fresh span id', async () => {
    fake.set({ faults: [{ type: 'status500Once' }] });
    const response = await draft('Tea after a hiccup');
    expect(parseSse(response.body).at(-1)!.event).toBe('done');
    const retried = sentHeaders();
    expect(retried).toHaveLength(2);
    const [first, second] = retried.map((h) => TRACEPARENT.exec(h) ?? []);
    expect(first![1], retried.join(' ')).toMatch(/^[0-9a-f]{32}$/);
    expect(second![1]).toBe(first![1]);
    expect(second![2]).not.toBe(first![2]);
    expect(first![3]).toBe('00');

    fake.resetStats();
    await draft('Another tea, another trace');
    const [other] = sentHeaders().map((h) => TRACEPARENT.exec(h) ?? []);
    expect(other![1]).toMatch(/^[0-9a-f]{32}$/);
    expect(other![1]).not.toBe(first![1]);
  });

  it('ignores a malformed traceparent and starts a new trace', async () => {
    for (const bad of [
      `ff-${CALLER_TRACE}-${CALLER_SPAN}-01`,
      `00-${'0'.repeat(32)}-${CALLER_SPAN}-01`,
      `00-${CALLER_TRACE.toUpperCase()}-${CALLER_SPAN}-01`,
      `00-${CALLER_TRACE}-${CALLER_SPAN}-01-extra`,
    ]) {
      fake.resetStats();
      await draft(`Tea with a bad header ${bad.slice(0, 8)}`, { traceparent: bad });
      const [header] = sentHeaders();
      expect(header, bad).toMatch(TRACEPARENT);
      expect(header, bad).not.toContain(CALLER_TRACE);
    }
  });

  it("gives a job run in this process the submitting request's trace, for its model call and its webhook", async () => {
    const caller = callerTrace();
    const entered = traceContexts.entered;
    const submitted = await postJob(
      author,
      { kind: 'tags', text: 'Untraced job tea', callbackUrl: hooks.url },
      caller.header,
    );
    expect(submitted.statusCode, submitted.body).toBe(202);
    await expect.poll(() => hooks.received.length, { timeout: 5000 }).toBe(1);
    const [, modelTrace] = TRACEPARENT.exec(sentHeaders()[0]!) ?? [];
    const [, hookTrace, hookSpan] = TRACEPARENT.exec(String(hooks.received[0]!.traceparent)) ?? [];
    expect(modelTrace).toBe(caller.traceId);
    expect(hookTrace).toBe(caller.traceId);
    expect(hookSpan).not.toBe(caller.spanId);
    expect(traceContexts.entered).toBe(entered);
  });

  // Last: it loads the SDK into this process.
  it('(control) sees the SDK once it is loaded', async () => {
    await import('@opentelemetry/sdk-trace-base');
    expect(loadedOtelPackages()).toContain('sdk-trace-base');
  });
});
