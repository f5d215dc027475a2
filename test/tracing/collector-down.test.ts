import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { scryptHasher } from '../../src/modules/users/password.js';
import { startOtlpReceiver } from '../fakes/otlp-receiver.js';
import { createTestDatabase } from '../helpers/db.js';

/** pino's JSON lines, kept. */
class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
  messages(level: number): string[] {
    return this.text
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { level: number; msg?: string })
      .filter((line) => line.level === level)
      .map((line) => line.msg ?? '');
  }
}

const INFO = 30;
const WARN = 40;
const exportFailures = (log: Capture) =>
  log.messages(WARN).filter((m) => m.startsWith('Trace export failed'));
const recoveries = (log: Capture) => log.messages(INFO).filter((m) => m === 'Trace export works again');

async function until(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
}

/** An app exporting to `endpoint`, logging at info into `log`. */
async function tracedApp(endpoint: string, log: Capture) {
  const database = await createTestDatabase('sqlite');
  const config = loadConfig({ NODE_ENV: 'test', OTEL_EXPORTER_OTLP_ENDPOINT: endpoint });
  config.database = database.config;
  const app = await buildApp({
    config,
    database: database.handle,
    overrides: { passwordHasher: scryptHasher(2 ** 10) },
    logger: { level: 'info', stream: log },
  });
  await app.ready();
  return { app, database };
}

// A collector that does not answer costs the requests nothing, and the log one line.
describe('trace export with the collector down', () => {
  it('answers requests as fast, logs the failure once at warn, and shuts down within its timeout', async () => {
    // A port that refuses connections: a receiver's, closed.
    const gone = await startOtlpReceiver();
    await gone.close();
    const log = new Capture();
    const { app, database } = await tracedApp(gone.url, log);
    try {
      expect(app.tracing).toBeDefined();
      const slowest = async (count: number) => {
        let worst = 0;
        for (let i = 0; i < count; i++) {
          const started = performance.now();
          const response = await app.inject({ url: '/api/v1/posts' });
          worst = Math.max(worst, performance.now() - started);
          expect(response.statusCode).toBe(200);
        }
        return worst;
      };
      // Each request is a few ms; a request that waited on the exporter would take its
      // timeout (seconds).
      expect(await slowest(20)).toBeLessThan(500);
      await until(() => exportFailures(log).length > 0, 10_000);
      expect(exportFailures(log)).toHaveLength(1);
      // More spans, more failed exports (one a second, each retried): still one line.
      expect(await slowest(20)).toBeLessThan(500);
      await new Promise((resolve) => setTimeout(resolve, 4000));
      expect(exportFailures(log)).toHaveLength(1);
      expect(log.text).toContain(gone.url);
      // Spans still queued at shutdown: the flush tries the collector, and gives up in time.
      await slowest(5);
    } finally {
      const closing = performance.now();
      await app.close();
      // The flush at shutdown gives up after its 2 s rather than the exporter's retries.
      expect(performance.now() - closing).toBeLessThan(3000);
      await database.destroy();
    }
  }, 30_000);
});

describe('trace export at shutdown and after an outage', () => {
  it('sends the spans still queued when the app closes', async () => {
    const otlp = await startOtlpReceiver();
    const { app, database } = await tracedApp(otlp.url, new Capture());
    expect((await app.inject({ url: '/api/v1/posts' })).statusCode).toBe(200);
    // Well within the batch delay: only the shutdown's flush can have sent it.
    await app.close();
    expect(otlp.spans.map((s) => s.name)).toContain('GET /api/v1/posts');
    await database.destroy();
    await otlp.close();
  });

  it('logs the recovery once the collector answers again, and exports the new spans', async () => {
    const first = await startOtlpReceiver();
    const port = Number(new URL(first.url).port);
    await first.close();
    const log = new Capture();
    const { app, database } = await tracedApp(first.url, log);
    let back: Awaited<ReturnType<typeof startOtlpReceiver>> | undefined;
    try {
      await app.inject({ url: '/api/v1/posts' });
      await until(() => exportFailures(log).length > 0, 10_000);
      expect(recoveries(log)).toHaveLength(0);
      back = await startOtlpReceiver({ port });
      expect((await app.inject({ url: '/api/v1/posts?after-outage' })).statusCode).toBe(200);
      await back.waitFor((s) => s.name === 'GET /api/v1/posts', 1, 10_000);
      await until(() => recoveries(log).length > 0, 5000);
      expect(recoveries(log)).toHaveLength(1);
      expect(exportFailures(log)).toHaveLength(1);
    } finally {
      await app.close();
      await database.destroy();
      await back?.close();
    }
  }, 30_000);
});
