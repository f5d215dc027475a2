// The soak: a long mixed read/write load on one Inkstone, its memory sampled as it runs.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Child, forkInkstone } from '../ai/children.js';
import type { InkstoneCommand, MemoryReport } from '../ai/ipc.js';
import { type LoadAverage, loadAverage, round } from '../../src/bench/stats.js';
import { prepareDatabase } from './database.js';
import { inkstoneEnv } from './run.js';
import { runWrk, type WrkResult } from './wrk.js';

export interface SoakOptions {
  durationS: number;
  /** RSS at the end of this is the reference the rest is held to. */
  warmupS: number;
  connections: number;
  /** Between RSS samples. */
  sampleEveryS?: number;
  log: (line: string) => void;
}

export interface SoakSample {
  atS: number;
  rssMb: number;
  heapUsedMb: number;
}

export interface SoakResult {
  bench: 'soak';
  startedAt: string;
  finishedAt: string;
  settings: Omit<SoakOptions, 'log'>;
  loadAverage: { start: LoadAverage; end: LoadAverage };
  reads: WrkResult;
  paths: string[];
  /** `shed`: refused with 503 by the overload guard (counted apart: the guard doing its job). */
  writes: {
    comments: number;
    posts: number;
    edits: number;
    shed: number;
    failed: number;
    firstFailure?: string;
  };
  samples: SoakSample[];
  /** RSS when the warm-up ended, and the most it reached after. */
  rssAfterWarmupMb: number;
  rssMaxAfterWarmupMb: number;
  rssEndMb: number;
  /** Highest RSS after the warm-up over RSS at its end. */
  growth: number;
  /** Growth ≤ 1.10, no read errors, no failed writes. */
  pass: boolean;
}

const mb = (bytes: number) => round(bytes / 1024 / 1024, 1);

/** Paths a reader visits, found as a crawler would: the listed posts, their tags and authors. */
async function readerPaths(base: string): Promise<string[]> {
  const response = await fetch(`${base}/api/v1/posts?perPage=20`);
  const list = (await response.json()) as {
    items: { url: string; tags: string[]; author: { username: string } }[];
  };
  const posts = list.items.map((x) => x.url);
  const tags = [...new Set(list.items.flatMap((x) => x.tags))].map((t) => `/tags/${encodeURIComponent(t)}`);
  const authors = [...new Set(list.items.map((x) => `/@${x.author.username}`))];
  const candidates = [
    '/',
    '/?page=2',
    ...posts,
    ...tags,
    ...authors,
    '/feed.xml',
    '/sitemap.xml',
    '/search?q=tea',
  ];
  // Only pages that exist: a 404 in the mix would count as an error on every pass.
  const found: string[] = [];
  for (const path of candidates) {
    const answer = await fetch(base + path, { redirect: 'manual' });
    await answer.arrayBuffer();
    if (answer.status === 200) found.push(path);
  }
  return found;
}

class Shed extends Error {}

/** The author's writes, each one invalidating pages, until `stop` is set. */
function writer(base: string, token: string) {
  const counts: SoakResult['writes'] = { comments: 0, posts: 0, edits: 0, shed: 0, failed: 0 };
  let stopped = false;
  const call = async (method: string, path: string, body: unknown) => {
    const response = await fetch(`${base}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const json = (await response.json()) as Record<string, unknown>;
    if (response.status === 503) throw new Shed();
    if (response.status >= 300)
      throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
    return json;
  };
  const mine: { id: number; version: number }[] = [];
  const every = (ms: number, work: () => Promise<void>) =>
    (async () => {
      while (!stopped) {
        const started = Date.now();
        try {
          await work();
        } catch (error) {
          if (error instanceof Shed) counts.shed++;
          else {
            counts.failed++;
            counts.firstFailure ??= (error as Error).message;
          }
        }
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, ms - (Date.now() - started))));
      }
    })();
  const loops = [
    every(2000, async () => {
      const post = await call('POST', '/posts', {
        title: `Soak ${counts.posts + 1}`,
        body: 'A post written during the soak. '.repeat(20),
        status: 'published',
        tags: ['soak'],
      });
      mine.push({ id: Number(post.id), version: Number(post.version) });
      counts.posts++;
    }),
    every(200, async () => {
      const target = mine[mine.length - 1];
      if (!target) return;
      await call('POST', `/posts/${target.id}/comments`, { body: `Comment ${counts.comments + 1}` });
      counts.comments++;
    }),
    every(5000, async () => {
      const target = mine[Math.floor(Math.random() * mine.length)];
      if (!target) return;
      const post = await call('PATCH', `/posts/${target.id}`, {
        version: target.version,
        title: `Soak, edited ${counts.edits + 1}`,
      });
      target.version = Number(post.version);
      counts.edits++;
    }),
  ];
  return {
    counts,
    async stop() {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const { log } = options;
  const startedAt = new Date().toISOString();
  const start = loadAverage();
  const dir = mkdtempSync(join(tmpdir(), 'inkstone-soak-'));
  let inkstone: Child<InkstoneCommand> | undefined;
  try {
    log('soak: seeding the demo content');
    const prepared = await prepareDatabase('sqlite', dir, '');
    if (typeof prepared === 'string') throw new Error(prepared);
    inkstone = await forkInkstone('Inkstone (soak)', {
      log,
      env: inkstoneEnv(prepared.url, 60),
    });
    const base = inkstone.ready.url;
    const token = inkstone.ready.token;
    if (!token) throw new Error('the Inkstone child gave no API token');
    const paths = await readerPaths(base);
    log(
      `soak: ${options.durationS} s, ${options.connections} connections over ${paths.length} pages, writes through the API`,
    );
    const samples: SoakSample[] = [];
    const began = Date.now();
    const child = inkstone;
    const sample = async () => {
      const { now } = await child.call<MemoryReport>({ type: 'memory', gc: false });
      const point = {
        atS: round((Date.now() - began) / 1000, 1),
        rssMb: mb(now.rss),
        heapUsedMb: mb(now.heapUsed),
      };
      samples.push(point);
      log(`  ${point.atS} s: RSS ${point.rssMb} MB, heap ${point.heapUsedMb} MB`);
    };
    const sampler = setInterval(() => void sample().catch(() => {}), (options.sampleEveryS ?? 10) * 1000);
    const writes = writer(base, token);
    let reads: WrkResult;
    try {
      reads = await runWrk(`${base}/`, {
        connections: options.connections,
        threads: 1,
        durationS: options.durationS,
        timeoutS: 5,
        paths,
        // As browsers ask: the front door's compressed copies are made and dropped with the writes.
        headers: { 'accept-encoding': 'gzip, deflate, br' },
      });
    } finally {
      clearInterval(sampler);
      await writes.stop();
    }
    await sample();
    const after = samples.filter((x) => x.atS >= options.warmupS);
    const reference = after[0] ?? samples[samples.length - 1]!;
    const rssMaxAfterWarmupMb = Math.max(...after.map((x) => x.rssMb), reference.rssMb);
    const growth = round(rssMaxAfterWarmupMb / reference.rssMb, 3);
    const readErrors = Object.values(reads.errors).reduce((a, b) => a + b, 0);
    return {
      bench: 'soak',
      startedAt,
      finishedAt: new Date().toISOString(),
      settings: {
        durationS: options.durationS,
        warmupS: options.warmupS,
        connections: options.connections,
        sampleEveryS: options.sampleEveryS ?? 10,
      },
      loadAverage: { start, end: loadAverage() },
      reads,
      paths,
      writes: writes.counts,
      samples,
      rssAfterWarmupMb: reference.rssMb,
      rssMaxAfterWarmupMb,
      rssEndMb: samples[samples.length - 1]!.rssMb,
      growth,
      pass: growth <= 1.1 && readErrors === 0 && writes.counts.failed === 0,
    };
  } finally {
    await inkstone?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function formatSoak(result: SoakResult): string {
  const { reads, writes } = result;
  const errors = Object.entries(reads.errors)
    .filter(([, n]) => n > 0)
    .map(([kind, n]) => `${kind} ${n}`);
  return [
    `Soak: ${result.settings.durationS} s, ${result.settings.connections} connections (wrk), load average ${result.loadAverage.start.join(' ')} → ${result.loadAverage.end.join(' ')}`,
    `Reads: ${reads.requests} over ${result.paths.length} pages, ${reads.requestsPerSecond} req/s, p50 ${reads.latencyMs.p50} ms, p99 ${reads.latencyMs.p99} ms, errors: ${errors.length ? errors.join(', ') : 'none'}`,
    `Writes: ${writes.posts} posts, ${writes.comments} comments, ${writes.edits} edits, ${writes.shed} shed (503), ${writes.failed} failed${writes.firstFailure ? ` (first: ${writes.firstFailure})` : ''}`,
    `RSS: ${result.rssAfterWarmupMb} MB when the ${result.settings.warmupS} s warm-up ended, at most ${result.rssMaxAfterWarmupMb} MB after (${result.growth}×), ${result.rssEndMb} MB at the end`,
    `Goal (RSS within 10 % after the warm-up, no errors): ${result.pass ? 'met' : 'NOT met'}`,
  ].join('\n');
}
