import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { closeRedis } from '../../src/plugins/redis.js';
import { type FakeModelServer, startFakeModelServer } from '../fakes/model-server.js';
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from '../fakes/otlp-receiver.js';
import { type Client, createTestApp, signedIn, type TestApp } from '../helpers/app.js';
import { availableDialects, databaseUrl } from '../helpers/db.js';
import { connectTestRedis, deleteKeys, REDIS_URL, redisAvailable, testPrefix } from '../helpers/redis.js';
import { callerTrace, hookReceiver, postJob, TRACEPARENT } from '../helpers/trace.js';

// A job queued through a real Redis by one web instance and run by a real `inkstone worker`
// process (the CLI through tsx) continues the trace of the request that queued it: the model
// server and the webhook receiver get that trace id, and with OTEL_EXPORTER_OTLP_ENDPOINT the
// worker exports its spans in it, under the request's span.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const available = await redisAvailable();
const dialect = (await availableDialects()).includes('postgres') ? 'postgres' : 'sqlite';

const SERVER = 2;
const CLIENT = 3;
const CONSUMER = 5;

const parsed = (header: unknown) => {
  const [, traceId, spanId, flags] = TRACEPARENT.exec(String(header)) ?? [];
  return { traceId, spanId, flags };
};

interface WorkerProcess {
  child: ChildProcess;
  ready: Promise<void>;
  exited: Promise<void>;
}

/** `inkstone worker`, resolved `ready` at its "worker ready" line; rejects if it exits first. */
function startWorker(env: Record<string, string>): WorkerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', 'worker'], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Vitest may end its worker without afterAll: no process of ours outlives it.
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      process.off('exit', kill);
      resolve();
    }),
  );
  const ready = new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.includes('"worker ready"')) resolve();
    });
    void exited.then(() => reject(new Error(`the worker exited before it was ready: ${stderr}`)));
  });
  return { child, ready, exited };
}

// Each test starts an `inkstone worker` through tsx: seconds on a busy 2-core machine.
describe.skipIf(!available)(`traces through queued jobs (${dialect}, Redis)`, { timeout: 90_000 }, () => {
  let fake: FakeModelServer;
  let otlp: OtlpReceiver;
  let hooks: Awaited<ReturnType<typeof hookReceiver>>;
  let direct: Redis;
  let site: TestApp | undefined;
  let worker: WorkerProcess | undefined;
  let author: Client;
  let prefix: string;

  beforeAll(async () => {
    fake = await startFakeModelServer({ ttftMs: 2, interTokenMs: 1 });
    otlp = await startOtlpReceiver();
    hooks = await hookReceiver();
    direct = await connectTestRedis();
  });
  afterEach(async () => {
    if (worker && worker.child.exitCode === null && worker.child.signalCode === null) {
      worker.child.kill('SIGKILL');
      await worker.exited;
    }
    worker = undefined;
    await site?.close();
    site = undefined;
    await deleteKeys(direct, prefix);
    fake.resetStats();
    otlp.reset();
    hooks.received.length = 0;
  });
  afterAll(async () => {
    await fake?.close();
    await otlp?.close();
    hooks?.close();
    if (direct) await closeRedis(direct);
  });

  /** A web instance that only queues, and one worker; both export spans when `exporting`. */
  async function setUp(exporting: boolean) {
    prefix = testPrefix();
    const env: Record<string, string> = {
      AI_PROVIDER: 'ollama',
      AI_BASE_URL: fake.url,
      AI_REQUESTS_PER_MINUTE: '1000',
      REDIS_URL,
      REDIS_PREFIX: prefix,
      WEBHOOK_ALLOW_HOSTS: `127.0.0.1:${hooks.port}`,
      ...(exporting ? { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url } : {}),
    };
    site = await createTestApp(dialect, {
      ...env,
      AI_WEB_WORKER_CONCURRENCY: '0',
      ...(exporting ? { OTEL_SERVICE_NAME: 'inkstone-web-under-test' } : {}),
    });
    ({ client: author } = await signedIn(site.app, 'author'));
    worker = startWorker({
      ...env,
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      DATABASE_URL: databaseUrl(site.database.config),
      ...(exporting ? { OTEL_SERVICE_NAME: 'inkstone-worker-under-test' } : {}),
    });
    await worker.ready;
  }

  /** Queues a draft (in `caller`'s trace, if given) and waits until the worker has finished it. */
  async function runJob(title: string, caller?: { header: string }, callbackUrl?: string) {
    const submitted = await postJob(
      author,
      { kind: 'draft', title, ...(callbackUrl ? { callbackUrl } : {}) },
      caller?.header,
    );
    expect(submitted.statusCode, submitted.body).toBe(202);
    const id = submitted.json<{ id: string }>().id;
    for (let i = 0; i < 1500; i++) {
      const job = (await author.get(`/api/v1/ai/generations/${id}`)).json<{
        status: string;
        webhook: { status: string } | null;
      }>();
      const settled = !callbackUrl || (job.webhook !== null && job.webhook.status !== 'pending');
      if (job.status === 'completed' && settled) return id;
      if (job.status === 'failed' || job.status === 'cancelled') throw new Error(`job ${id} ${job.status}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`job ${id} did not finish`);
  }

  /** The traceparent the model server received for the generation of `title`. */
  function modelCallTraceparent(title: string) {
    const calls = fake.stats.requests.filter((r) => JSON.stringify(r.body).includes(title));
    expect(calls, title).toHaveLength(1);
    return parsed(calls[0]!.headers.traceparent);
  }

  it("without span export, the model server and the webhook get the queuing request's trace id, one trace per job", async () => {
    await setUp(false);
    const first = callerTrace();
    const second = callerTrace();
    // Two jobs, one after the other on the same worker: neither run leaks its trace into the next.
    await runJob('Oolong in a queued trace', first, hooks.url);
    await runJob('Sencha in another queued trace', second);

    const oolong = modelCallTraceparent('Oolong in a queued trace');
    expect(oolong.traceId).toBe(first.traceId);
    expect(oolong.spanId).not.toBe(first.spanId);
    expect(oolong.flags).toBe('01');
    expect(modelCallTraceparent('Sencha in another queued trace').traceId).toBe(second.traceId);

    expect(hooks.received).toHaveLength(1);
    expect(parsed(hooks.received[0]!.traceparent).traceId).toBe(first.traceId);
    // Nothing was exported by either process.
    expect(otlp.requests).toHaveLength(0);
  });

  it("with span export, the worker's job, query, model-call and webhook spans arrive in the request's trace, under its span", async () => {
    await setUp(true);
    const caller = callerTrace();
    const jobId = await runJob('Pu-erh in an exported trace', caller, hooks.url);

    await site!.app.tracing!.flush();
    const [request] = await otlp.waitFor(
      (s) => s.traceId === caller.traceId && s.kind === SERVER && s.name === 'POST /api/v1/ai/generations',
    );
    expect(request!.parentSpanId).toBe(caller.spanId);
    expect(request!.resource['service.name']).toBe('inkstone-web-under-test');

    // The worker exports every second; its spans come from its own process.
    const inTrace = (match: (s: ReceivedSpan) => boolean) => (s: ReceivedSpan) =>
      s.traceId === caller.traceId && match(s);
    const [job] = await otlp.waitFor(inTrace((s) => s.kind === CONSUMER));
    expect(job!.name).toBe('process ai-jobs');
    expect(job!.parentSpanId).toBe(request!.spanId);
    expect(job!.resource['service.name']).toBe('inkstone-worker-under-test');
    expect(job!.attributes).toMatchObject({
      'messaging.system': 'bullmq',
      'messaging.message.id': jobId,
      'inkstone.job.outcome': 'finished',
      'inkstone.job.restarts': 0,
    });

    const [model] = await otlp.waitFor(inTrace((s) => s.name === 'chat glm4'));
    expect(model!.parentSpanId).toBe(job!.spanId);
    expect(model!.kind).toBe(CLIENT);
    expect(model!.resource['service.name']).toBe('inkstone-worker-under-test');
    expect(model!.events.map((e) => e.name)).toContain('first_token');
    // The model server was called as the model span's child, in the caller's trace.
    const sent = modelCallTraceparent('Pu-erh in an exported trace');
    expect(sent).toEqual({ traceId: caller.traceId, spanId: model!.spanId, flags: '01' });

    // The worker's queries for the job (reading its row, recording its end) are its children.
    const queries = otlp.spans.filter(
      inTrace((s) => s.parentSpanId === job!.spanId && s.attributes['db.query.text'] !== undefined),
    );
    expect(queries.map((s) => s.name)).toContain('SELECT ai_jobs');

    // The webhook's span is the parent the receiver was told about.
    expect(hooks.received).toHaveLength(1);
    const hook = parsed(hooks.received[0]!.traceparent);
    expect(hook.traceId).toBe(caller.traceId);
    const [delivery] = await otlp.waitFor(inTrace((s) => s.spanId === hook.spanId));
    expect(delivery!.name).toBe('POST');
    expect(delivery!.parentSpanId).toBe(job!.spanId);
    expect(delivery!.attributes['http.response.status_code']).toBe(200);
    for (const child of [model!, delivery!]) {
      expect(child.startTimeUnixNano).toBeGreaterThanOrEqual(job!.startTimeUnixNano);
      expect(child.endTimeUnixNano).toBeLessThanOrEqual(job!.endTimeUnixNano);
    }
  });

  it('a job queued by a request that sent no traceparent continues the trace its request span started', async () => {
    await setUp(true);
    await runJob('Genmaicha with a trace of its own');
    await site!.app.tracing!.flush();
    const [request] = await otlp.waitFor(
      (s) => s.kind === SERVER && s.name === 'POST /api/v1/ai/generations',
    );
    expect(request!.parentSpanId).toBe('');
    const [job] = await otlp.waitFor((s) => s.kind === CONSUMER);
    expect(job!.traceId).toBe(request!.traceId);
    expect(job!.parentSpanId).toBe(request!.spanId);
    expect(modelCallTraceparent('Genmaicha with a trace of its own').traceId).toBe(request!.traceId);
  });
});
