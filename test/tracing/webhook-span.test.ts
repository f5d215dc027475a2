import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FakeModelServer, startFakeModelServer } from '../fakes/model-server.js';
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from '../fakes/otlp-receiver.js';
import { type Client, createTestApp, signedIn, type TestApp } from '../helpers/app.js';
import { callerTrace, hex, hookReceiver, postJob, TRACEPARENT } from '../helpers/trace.js';

const SERVER = 2;
const CLIENT = 3;
const INTERNAL_ERROR = 2;

// Jobs run in the web process (no Redis); spans exported to a fake collector. Each webhook
// attempt is a client span of its own, and the traceparent the receiver gets names that span.
describe('webhook delivery spans (in-process jobs, OTEL_EXPORTER_OTLP_ENDPOINT)', () => {
  let otlp: OtlpReceiver;
  let fake: FakeModelServer;
  let hooks: Awaited<ReturnType<typeof hookReceiver>>;
  let site: TestApp;
  let author: Client;

  beforeAll(async () => {
    otlp = await startOtlpReceiver();
    fake = await startFakeModelServer({ ttftMs: 2, interTokenMs: 1 });
    hooks = await hookReceiver();
    site = await createTestApp('sqlite', {
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      AI_PROVIDER: 'ollama',
      AI_BASE_URL: fake.url,
      AI_REQUESTS_PER_MINUTE: '1000',
      WEBHOOK_ALLOW_HOSTS: `127.0.0.1:${hooks.port}`,
      WEBHOOK_ATTEMPTS: '3',
    });
    author = (await signedIn(site.app, 'author')).client;
  });
  beforeEach(() => {
    otlp.reset();
    fake.resetStats();
    hooks.received.length = 0;
    hooks.answers.length = 0;
  });
  afterAll(async () => {
    await site?.close();
    await fake?.close();
    await otlp?.close();
    hooks?.close();
  });

  /** Submits a job in the caller's trace and waits until its webhook is settled. */
  async function submitJob(caller: { header: string }, callbackUrl: string) {
    const submitted = await postJob(
      author,
      { kind: 'tags', text: `Webhook span tea ${hex(4)}`, callbackUrl },
      caller.header,
    );
    expect(submitted.statusCode).toBe(202);
    const id = submitted.json<{ id: string }>().id;
    for (let i = 0; i < 500; i++) {
      const job = (await author.get(`/api/v1/ai/generations/${id}`)).json<{
        webhook: { status: string } | null;
      }>();
      if (job.webhook && job.webhook.status !== 'pending') return job;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error(`the webhook of job ${id} was not settled`);
  }

  /** The exported webhook spans of a trace, once `count` of them arrived. */
  async function webhookSpans(traceId: string, count: number): Promise<ReceivedSpan[]> {
    await site.app.tracing!.flush();
    const spans = await otlp.waitFor(
      (s) =>
        s.traceId === traceId && s.kind === CLIENT && s.attributes['inkstone.webhook.delivery'] !== undefined,
      count,
    );
    return spans.sort((a, b) => Number(a.startTimeUnixNano - b.startTimeUnixNano));
  }

  it("exports the delivery as a client span whose id is the receiver's parent, under the submitting request", async () => {
    const caller = callerTrace();
    const job = await submitJob(caller, `${hooks.url}?token=receiver-secret-token`);
    expect(job.webhook!.status).toBe('delivered');
    expect(hooks.received).toHaveLength(1);

    const [, traceId, spanId, flags] = TRACEPARENT.exec(String(hooks.received[0]!.traceparent)) ?? [];
    expect(traceId).toBe(caller.traceId);
    expect(flags).toBe('01');

    const [delivery] = await webhookSpans(caller.traceId, 1);
    // The span the receiver was told is its parent is one the collector has.
    expect(delivery!.spanId).toBe(spanId);
    const [request] = await otlp.waitFor(
      (s) => s.traceId === caller.traceId && s.kind === SERVER && s.name === 'POST /api/v1/ai/generations',
    );
    expect(delivery!.parentSpanId).toBe(request!.spanId);
    expect(delivery!.name).toBe('POST');
    expect(delivery!.statusCode).not.toBe(INTERNAL_ERROR);
    expect(delivery!.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.response.status_code': 200,
      'server.address': '127.0.0.1',
      'server.port': hooks.port,
      'inkstone.webhook.delivery': expect.any(String),
    });
    // The receiver's own token in the query string stays out of the trace.
    expect(delivery!.attributes['url.full']).toBe(hooks.url);
    expect(JSON.stringify(delivery!.attributes)).not.toContain('receiver-secret-token');
    expect(delivery!.attributes['http.request.resend_count']).toBeUndefined();

    // The in-process job's model call kept the caller's trace too.
    const sent = String(fake.stats.requests.at(-1)!.headers.traceparent);
    expect(TRACEPARENT.exec(sent)?.[1]).toBe(caller.traceId);
  });

  it('makes one span per attempt: a retried delivery has two, each the parent named in its own request', async () => {
    hooks.answers.push(503);
    const caller = callerTrace();
    const job = await submitJob(caller, hooks.url);
    expect(job.webhook!.status).toBe('delivered');
    expect(hooks.received).toHaveLength(2);
    const sentSpanIds = hooks.received.map((headers) => TRACEPARENT.exec(String(headers.traceparent))?.[2]);
    expect(new Set(sentSpanIds).size).toBe(2);

    const [failed, retried] = await webhookSpans(caller.traceId, 2);
    expect([failed!.spanId, retried!.spanId]).toEqual(sentSpanIds);
    expect(failed!.attributes['http.response.status_code']).toBe(503);
    expect(failed!.attributes['error.type']).toBe('503');
    expect(failed!.statusCode).toBe(INTERNAL_ERROR);
    expect(retried!.attributes['http.response.status_code']).toBe(200);
    expect(retried!.attributes['http.request.resend_count']).toBe(1);
    expect(retried!.statusCode).not.toBe(INTERNAL_ERROR);
    // Both deliveries of one event: the same delivery id, which the receiver got too.
    expect(failed!.attributes['inkstone.webhook.delivery']).toBe(hooks.received[0]!['inkstone-delivery']);
    expect(retried!.attributes['inkstone.webhook.delivery']).toBe(hooks.received[1]!['inkstone-delivery']);
  });
});
