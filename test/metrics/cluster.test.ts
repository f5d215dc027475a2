import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../helpers/redis.js';
import { havePromtool, promtoolCheck, value } from './scrape.js';

// `inkstone serve --workers 2` with METRICS_PORT: the primary serves the port and one scrape
// returns both workers' series, summed.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TOKEN = 'cluster-metrics-token-0123';

async function get(port: number, path: string) {
  // A connection per request: node:cluster hands each new one to the next worker.
  const response = await request(`http://127.0.0.1:${port}${path}`, {
    headers: { connection: 'close' },
    headersTimeout: 10_000,
  });
  const body = await response.body.text();
  return { status: response.statusCode, worker: String(response.headers['x-inkstone-worker']), body };
}

describe('metrics of serve --workers 2', () => {
  let port: number;
  let metricsPort: number;
  let primary: ChildProcess;
  let output = '';

  beforeAll(async () => {
    port = await freePort();
    metricsPort = await freePort();
    const file = join(inject('testDataFolder'), `metrics-cluster-${randomBytes(4).toString('hex')}.db`);
    const env: Record<string, string | undefined> = {
      ...process.env,
      NODE_ENV: 'production',
      SESSION_SECRET: randomBytes(32).toString('hex'),
      LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      PORT: String(port),
      METRICS_PORT: String(metricsPort),
      DATABASE_URL: `sqlite:${file}`,
      AI_PROVIDER: 'none',
      PAGE_CACHE_TTL_SECONDS: '300',
      OVERLOAD_EVENT_LOOP_DELAY_MS: '0',
      OVERLOAD_HEAP_PERCENT: '0',
    };
    delete env.REDIS_URL;
    env.METRICS_TOKEN = TOKEN;
    primary = spawn(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', 'serve', '--workers', '2'], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const kill = () => primary.kill('SIGKILL');
    process.once('exit', kill);
    primary.once('exit', () => process.off('exit', kill));
    primary.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    primary.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    // Until both workers have answered once.
    const seen = new Set<string>();
    const deadline = Date.now() + 90_000;
    while (seen.size < 2) {
      if (Date.now() > deadline) throw new Error(`the workers did not start: ${output}`);
      if (primary.exitCode !== null) throw new Error(`the primary exited (${primary.exitCode}): ${output}`);
      const answer = await get(port, '/api/v1/settings').catch(() => undefined);
      if (answer?.status === 200) seen.add(answer.worker);
      else await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }, 120_000);

  afterAll(() => {
    if (primary && primary.exitCode === null && primary.signalCode === null) primary.kill('SIGTERM');
  });

  it('sums both workers into one scrape', async () => {
    const scrape = async () => {
      const response = await request(`http://127.0.0.1:${metricsPort}/metrics`);
      expect(response.statusCode).toBe(200);
      return response.body.text();
    };
    const route = { method: 'GET', route: '/api/v1/tags' };
    const before = value(await scrape(), 'http_requests_total', { ...route, status: '200' });
    const workers = new Set<string>();
    for (let i = 0; i < 10; i++) {
      const answer = await get(port, '/api/v1/tags');
      expect(answer.status).toBe(200);
      workers.add(answer.worker);
    }
    expect(workers.size).toBe(2);
    // The feed from both workers: after each worker's first, the front door answers.
    for (let i = 0; i < 8; i++) expect((await get(port, '/feed.xml')).status).toBe(200);

    const text = await scrape();
    const frontDoor = { method: 'GET', route: 'page-cache' };
    const hits = value(text, 'http_requests_total', { ...frontDoor, status: '200' });
    expect(hits).toBeGreaterThanOrEqual(4);
    expect(value(text, 'http_request_duration_seconds_count', frontDoor)).toBe(hits);
    expect(
      value(text, 'http_requests_total', { method: 'GET', route: '/feed.xml', status: '200' }) + hits,
    ).toBe(8);
    expect(value(text, 'http_requests_total', { ...route, status: '200' }) - before).toBe(10);
    // SQLite's pool is one connection a worker: two workers, a max of two.
    expect(value(text, 'inkstone_db_pool_connections', { state: 'max' })).toBe(2);
    expect(value(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    if (havePromtool) expect(await promtoolCheck(text)).toBe('');
    else if (process.env.CI) throw new Error('promtool is missing in CI (Debian package prometheus)');
  });

  it('answers /metrics on the main port (METRICS_TOKEN) with the whole cluster, whichever worker takes it', async () => {
    const answers = [];
    for (let i = 0; i < 4; i++) {
      const response = await request(`http://127.0.0.1:${port}/metrics`, {
        headers: { authorization: `Bearer ${TOKEN}`, connection: 'close' },
      });
      expect(response.statusCode).toBe(200);
      answers.push({
        worker: String(response.headers['x-inkstone-worker']),
        text: await response.body.text(),
      });
    }
    expect(new Set(answers.map((a) => a.worker)).size).toBe(2);
    for (const { text } of answers)
      expect(value(text, 'inkstone_db_pool_connections', { state: 'max' })).toBe(2);
  });
});
