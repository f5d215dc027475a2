import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { command } from '../../src/bench/cache.js';
import { cacheCounts, parsePrometheus } from '../../src/bench/metrics-scrape.js';
import { parseResults } from '../../src/bench/read-results.js';
import type { CacheSection } from '../../src/bench/results.js';
import { startFakeModelServer, type FakeModelServer } from '../fakes/model-server.js';
import { createTestApp, createUser, type TestApp } from '../helpers/app.js';

// `inkstone bench cache` against a real Inkstone on a port, with its page cache and /metrics
// on, and the fake model behind the AI: cold pages made cold by the bench's own post, warm
// ones from the cache, and hit rates read from the server, not inferred.
const TOKEN = 'metrics-token-0123456789';
let fake: FakeModelServer;
let t: TestApp;
let url: string;
let admin: { username: string; password: string };
let dir: string;

beforeAll(async () => {
  fake = await startFakeModelServer({ ttftMs: 30, interTokenMs: 2, parallel: 4 });
  t = await createTestApp('sqlite', {
    METRICS_TOKEN: TOKEN,
    PAGE_CACHE_TTL_SECONDS: '60',
    AI_PROVIDER: 'ollama',
    AI_BASE_URL: fake.url,
    AI_REQUESTS_PER_MINUTE: '100000',
  });
  admin = await createUser(t.app, 'admin');
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  url = `http://127.0.0.1:${(t.app.server.address() as { port: number }).port}`;
  dir = await mkdtemp(join(tmpdir(), 'bench-cache-'));
  vi.spyOn(console, 'log').mockImplementation(() => {});
});

afterAll(async () => {
  vi.restoreAllMocks();
  await t?.close();
  await fake?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const read = async (out: string) =>
  parseResults(JSON.parse(await readFile(join(out, 'results.json'), 'utf8')));

describe('inkstone bench cache', () => {
  it(
    'measures cold and warm per page kind and the AI, with the server’s own hit rate',
    { timeout: 60_000 },
    async () => {
      const out = join(dir, 'full');
      const code = await command.run([
        '--url',
        url,
        '--warm',
        '5',
        '--metrics-token',
        TOKEN,
        '--admin-user',
        admin.username,
        '--admin-password',
        admin.password,
        '--out',
        out,
      ]);
      expect(code).toBe(0);
      const section = (await read(out)).sections[0] as CacheSection;
      expect(section.metricsNote).toBeUndefined();
      expect(section.settings.warmRequests).toBe(5);
      expect(section.pages.map((p) => p.endpoint)).toEqual([
        'home',
        'post',
        'tag',
        'author',
        'search',
        'feed',
        'sitemap',
        'ai-draft',
      ]);
      for (const page of section.pages) {
        expect(page.cold.n, page.endpoint).toBe(1);
        expect(page.warm.n, page.endpoint).toBe(5);
        expect(page.speedup).toBeCloseTo(page.cold.p50 / page.warm.p50, 1);
        expect(page.coldMeaning).toBeTruthy();
        // Read from /metrics: reads happened, and hits + misses add up to them.
        expect(page.serverHits, page.endpoint).not.toBeNull();
        expect(page.serverHits! + page.serverMisses!).toBeGreaterThan(0);
        expect(page.serverHitRate).toBeCloseTo(page.serverHits! / (page.serverHits! + page.serverMisses!), 3);
      }
      const post = section.pages.find((p) => p.endpoint === 'post')!;
      expect(post.coldMeaning).toMatch(/never requested before/);
      // Six requests to a fresh post page: the first rendered it; later ones were hits.
      expect(post.serverMisses).toBeGreaterThan(0);
      expect(post.serverHits).toBeGreaterThanOrEqual(4);
      // The AI: the same title again comes from the generation cache, its first token at once.
      const ai = section.pages.find((p) => p.endpoint === 'ai-draft')!;
      expect(ai.serverHits).toBe(5);
      expect(ai.serverMisses).toBe(1);
      expect(ai.ttftCold!.n).toBe(1);
      expect(ai.ttftCold!.p50).toBeGreaterThanOrEqual(25);
      expect(ai.ttftWarm!.p50).toBeLessThan(ai.ttftCold!.p50);
      expect(fake.stats.requests.length).toBe(1);
    },
  );

  it(
    'says why the hit rate is missing when /metrics cannot be read, and leaves it empty',
    { timeout: 60_000 },
    async () => {
      const out = join(dir, 'no-metrics');
      const code = await command.run(['--url', url, '--warm', '2', '--no-ai', '--out', out]);
      expect(code).toBe(0);
      const section = (await read(out)).sections[0] as CacheSection;
      expect(section.metricsNote).toMatch(/wants the METRICS_TOKEN/);
      for (const page of section.pages) {
        expect(page.serverHitRate).toBeNull();
        expect(page.serverHits).toBeNull();
      }
      // No author: the pages are measured, but cold means only "first of this run", and says so.
      expect(section.pages.find((p) => p.endpoint === 'home')!.coldMeaning).toMatch(
        /only the first request of this run/,
      );
      expect(section.notes!.join(' ')).toMatch(/--no-ai/);
    },
  );
});

describe('reading /metrics', () => {
  it('counts hits and reads as the hit-ratio alert does', () => {
    const text = [
      '# HELP inkstone_cache_hits_total x',
      'inkstone_cache_hits_total{layer="l1",namespace="posts"} 10',
      'inkstone_cache_hits_total{layer="l2",namespace="posts"} 3',
      'inkstone_cache_misses_total{layer="l1",namespace="posts"} 5',
      'inkstone_cache_misses_total{layer="l2",namespace="posts"} 2',
      'http_requests_total{method="GET",route="page-cache",status="200"} 7',
      'http_requests_total{method="GET",route="/",status="200"} 100',
      'inkstone_ai_cache_hits_total 4',
      'inkstone_ai_requests_total{provider="none",model="m",outcome="ok"} 4',
      'inkstone_ai_requests_total{provider="ollama",model="m",outcome="ok"} 2',
    ].join('\n');
    // Hits: 10 + 3 + 7 front-door pages. Reads: l1 10 + 5 (an l2 hit is an l1 miss) + 7.
    expect(cacheCounts(parsePrometheus(text))).toEqual({ hits: 20, reads: 22, aiHits: 4, aiRequests: 6 });
  });
});
