import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { commandLine, parseDuration, parseRange } from '../../src/bench/flags.js';
import { command } from '../../src/bench/load.js';
import { parseResults } from '../../src/bench/read-results.js';
import type { LoadSection } from '../../src/bench/results.js';
import { validateScenario } from '../../src/bench/scenario.js';
import { startFakeModelServer, type FakeModelServer } from '../fakes/model-server.js';
import { createTestApp, createUser, type TestApp } from '../helpers/app.js';

// `inkstone bench load` against a real Inkstone on a port (SQLite, the fake model behind the
// AI): the accounts it makes, the mix it runs, the file it writes. Not its speed.
let fake: FakeModelServer;
let t: TestApp;
let url: string;
let admin: { username: string; password: string };
let dir: string;

beforeAll(async () => {
  fake = await startFakeModelServer({ ttftMs: 2, interTokenMs: 1, parallel: 8 });
  t = await createTestApp('sqlite', {
    AI_PROVIDER: 'ollama',
    AI_BASE_URL: fake.url,
    AI_REQUESTS_PER_MINUTE: '100000',
  });
  admin = await createUser(t.app, 'admin');
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  const address = t.app.server.address() as { port: number };
  url = `http://127.0.0.1:${address.port}`;
  dir = await mkdtemp(join(tmpdir(), 'bench-load-'));
  vi.spyOn(console, 'log').mockImplementation(() => {});
});

afterAll(async () => {
  vi.restoreAllMocks();
  await t?.close();
  await fake?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function results(out: string) {
  return parseResults(JSON.parse(await readFile(join(out, 'results.json'), 'utf8')));
}

describe('inkstone bench load', () => {
  it(
    'runs the weighted mix with accounts it makes itself and writes a valid results.json',
    { timeout: 60_000 },
    async () => {
      const out = join(dir, 'mix');
      const code = await command.run([
        '--url',
        url,
        '--users',
        '4',
        '--duration',
        '3s',
        '--think',
        '0',
        '--admin-user',
        admin.username,
        '--admin-password',
        admin.password,
        '--out',
        out,
      ]);
      expect(code).toBe(0);
      const file = await results(out);
      expect(file.url).toBe(url);
      // The command as run, without the admin's password.
      expect(file.command).toContain('--admin-password ***');
      expect(file.command).not.toContain(admin.password);
      expect(file.machine.cpus).toBeGreaterThan(0);
      const section = file.sections[0] as LoadSection;
      expect(section.kind).toBe('load');
      expect(section.interrupted).toBe(false);
      expect(section.elapsedS).toBeGreaterThan(2.5);
      expect(section.elapsedS).toBeLessThanOrEqual(3);
      expect(section.settings.weights).toEqual({
        home: 10,
        post: 5,
        login: 1,
        'create-post': 1,
        'ai-draft': 2,
      });
      // An empty site: the bench published posts to read, and made its accounts authors.
      expect(section.notes!.join(' ')).toMatch(/published three/);

      const byName = new Map(section.endpoints.map((e) => [e.endpoint, e]));
      expect([...byName.keys()].sort()).toEqual(['ai-draft', 'create-post', 'home', 'login', 'post']);
      let total = 0;
      for (const e of section.endpoints) {
        const errors = Object.values(e.errors).reduce((a, b) => a + b, 0);
        expect(e.requests, e.endpoint).toBe(e.ok + errors);
        expect(e.errors, e.endpoint).toEqual({});
        expect(e.latency.n).toBe(e.ok);
        expect(e.latency.min).toBeLessThanOrEqual(e.latency.p50);
        expect(e.latency.p50).toBeLessThanOrEqual(e.latency.p99);
        expect(e.latency.p99).toBeLessThanOrEqual(e.latency.max);
        expect(e.throughput).toBeCloseTo(e.ok / section.elapsedS, 0);
        total += e.requests;
      }
      // Weights respected roughly: each kind's share is its weight over 19, give or take.
      expect(total).toBeGreaterThan(100);
      for (const [name, weight] of Object.entries(section.settings.weights)) {
        const share = byName.get(name)!.requests / total;
        expect(Math.abs(share - weight / 19), name).toBeLessThan(0.08);
      }
      // The AI drafts streamed: a first token before the whole answer.
      const ai = byName.get('ai-draft')!;
      expect(ai.ttft!.n).toBe(ai.ok);
      expect(ai.ttft!.p50).toBeGreaterThan(0);
      expect(ai.ttft!.p50).toBeLessThanOrEqual(ai.total!.p50);
      expect(fake.stats.requests.length).toBeGreaterThanOrEqual(ai.ok);

      // The timeline: a point a second, adding up to the requests counted.
      expect(section.timeline.length).toBe(3);
      expect(section.timeline.reduce((a, p) => a + p.requests, 0)).toBe(total);
      // The posts it wrote are drafts: the readers' pages did not change under them.
      expect(byName.get('create-post')!.ok).toBeGreaterThan(0);
      const drafts = await t.app.inject({ url: '/api/v1/posts?perPage=50' });
      expect(
        (drafts.json() as { items: { title: string }[] }).items.every(
          (p) => !p.title.startsWith('Bench post'),
        ),
      ).toBe(true);
      // The report module, when there, renders report.html beside the JSON.
      if (existsSync(new URL('../../src/bench/report/index.ts', import.meta.url)))
        expect(existsSync(join(out, 'report.html'))).toBe(true);
    },
  );

  it(
    'skips writes and AI with a note when it cannot make an author, and still runs the reads',
    { timeout: 30_000 },
    async () => {
      const out = join(dir, 'reader');
      const code = await command.run([
        '--url',
        url,
        '--users',
        '2',
        '--duration',
        '1s',
        '--think',
        '0',
        '--out',
        out,
      ]);
      expect(code).toBe(0);
      const section = (await results(out)).sections[0] as LoadSection;
      expect(section.endpoints.map((e) => e.endpoint).sort()).toEqual(['home', 'login', 'post']);
      expect(section.settings.weights['create-post']).toBe(0);
      expect(section.notes!.join('\n')).toMatch(/create-post skipped: no author account/);
      expect(section.notes!.join('\n')).toMatch(/--admin-user/);
    },
  );

  it('takes its weights and think time from a scenario file', { timeout: 30_000 }, async () => {
    const scenario = join(dir, 'scenario.json');
    await writeFile(
      scenario,
      JSON.stringify({ weights: { home: 1, post: 0, login: 0, 'create-post': 0, 'ai-draft': 0 }, think: 0 }),
    );
    const out = join(dir, 'scenario');
    expect(
      await command.run([
        '--url',
        url,
        '--users',
        '2',
        '--duration',
        '1s',
        '--scenario',
        scenario,
        '--out',
        out,
      ]),
    ).toBe(0);
    const section = (await results(out)).sections[0] as LoadSection;
    expect(section.settings.scenarioFile).toBe(scenario);
    expect(section.settings.thinkMs).toEqual([0, 0]);
    expect(section.endpoints.map((e) => e.endpoint)).toEqual(['home']);
    expect(section.endpoints[0]!.requests).toBeGreaterThan(10);
  });

  it('refuses a bad scenario naming the field', async () => {
    expect(() => validateScenario({ weights: { home: -1 } })).toThrow(
      /weights\.home must be a number of 0 or more/,
    );
    expect(() => validateScenario({ weights: { homepage: 1 } })).toThrow(
      /weights\.homepage is not an endpoint/,
    );
    expect(() => validateScenario({ weight: {} })).toThrow(/unknown field "weight"/);
    expect(() => validateScenario({ think: 'soon' })).toThrow(/think: "soon" is not a duration/);
    expect(() =>
      validateScenario({ weights: { home: 0, post: 0, login: 0, 'create-post': 0, 'ai-draft': 0 } }),
    ).toThrow(/all 0/);
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    const bad = join(dir, 'bad.json');
    await writeFile(bad, '{"weights": {"post": "five"}}');
    expect(await command.run(['--url', url, '--scenario', bad])).toBe(2);
    expect(err.mock.calls.flat().join(' ')).toMatch(/weights\.post must be a number/);
    err.mockRestore();
  });
});

describe('bench flags', () => {
  it('reads durations and think-time ranges', () => {
    expect(parseDuration('60s', 'duration')).toBe(60_000);
    expect(parseDuration('2m', 'duration')).toBe(120_000);
    expect(parseDuration('500ms', 'duration')).toBe(500);
    expect(parseDuration('1.5', 'duration')).toBe(1500);
    expect(() => parseDuration('soon', 'duration')).toThrow(/--duration: "soon" is not a duration/);
    expect(parseRange('1-5s', 'think')).toEqual([1000, 5000]);
    expect(parseRange('500ms-2s', 'think')).toEqual([500, 2000]);
    expect(parseRange('0', 'think')).toEqual([0, 0]);
    expect(() => parseRange('5-1s', 'think')).toThrow(/upper end/);
  });

  it('stars out secrets in the command it records', () => {
    expect(
      commandLine('load', ['--url', 'u', '--password', 'p1', '--admin-password=p2', '--metrics-token', 't']),
    ).toBe('inkstone bench load --url u --password *** --admin-password=*** --metrics-token ***');
  });
});
