// `inkstone bench cache`: for each page kind, one cold request and N warm ones, one at a
// time (this measures the cache, not the server under load), with the server's own cache
// counts read from /metrics around each page. A page is cold because the bench made it so:
// it publishes a post of its own first, which makes its post, tag, author and search pages
// URLs nobody has asked for, and invalidates the home page, the feed and the sitemap.
import { type Credentials, ADMIN_TOKEN_ENV, prepareAccounts, Session } from './accounts.js';
import type { BenchCommand } from './cli.js';
import {
  commandLine,
  credentialFlags,
  FlagError,
  parseBaseUrl,
  parseDuration,
  parseFlags,
  parsePositiveInt,
  runParsed,
} from './flags.js';
import { type BenchOutcome, type BenchRequest, HttpClient } from './http.js';
import { type CacheCounts, metricsReader, type MetricsReader } from './metrics-scrape.js';
import { onInterrupt, startProgress } from './progress.js';
import type { CacheSection } from './results.js';
import {
  aiDraftRequest,
  aiStatus,
  benchBody,
  createPost,
  type PostRef,
  publishedPosts,
  runId,
} from './site.js';
import { loadAverage, ratio, round, summarize } from './stats.js';
import { formatTable } from './table.js';
import { finishRun } from './write.js';

const HELP = `Usage: inkstone bench cache --url URL [options]

For the home page, a post, a tag, an author page, a search, the feed, the sitemap and an AI
draft: the first (cold) request and N warm ones, one at a time; the speed-up (cold p50 / warm
p50) and the server's own cache hit rate from its /metrics before and after each page.

  --url URL               the Inkstone to test (required)
  --warm N                warm requests per page (default 20)
  --metrics-token T       the server's METRICS_TOKEN (or set METRICS_TOKEN)
  --metrics-url URL       /metrics elsewhere (the server's METRICS_PORT), e.g. http://127.0.0.1:9464/metrics
  --user NAME --password P        an author to publish the fresh post and ask the AI as
  --admin-user NAME --admin-password P
                          an admin who makes a fresh bench account an author (or set
                          ${ADMIN_TOKEN_ENV} to an admin's API token)
  --no-ai                 skip the AI draft
  --timeout D             per-request limit (default 60s)
  --out DIR               where results.json goes (default bench-results/<time>/)

Cold means: a post the bench publishes for the run (its post, tag, author and search pages are
URLs never requested before; the publish invalidates the home page, feed and sitemap). Without
an author account it is only the first request of this run, which the server may have cached
before; each page says which in "coldMeaning". AI: a title never asked before, then the same
title again (the generation cache).`;

interface CacheOptions {
  url: URL;
  warm: number;
  metricsToken?: string;
  metricsUrl?: URL;
  user?: Credentials;
  admin?: Credentials;
  ai: boolean;
  timeoutMs: number;
  out?: string;
}

function options(args: string[]): CacheOptions | 'help' {
  const { values, switches } = parseFlags(args, {
    values: [
      'url',
      'warm',
      'metrics-token',
      'metrics-url',
      'user',
      'password',
      'admin-user',
      'admin-password',
      'timeout',
      'out',
    ],
    switches: ['help', 'no-ai'],
  });
  if (switches.has('help')) return 'help';
  const get = (name: string) => values.get(name);
  const pair = (name: string, secret: string) => credentialFlags(values, name, secret);
  const metricsToken = get('metrics-token') ?? process.env.METRICS_TOKEN;
  const metricsUrl = get('metrics-url');
  const user = pair('user', 'password');
  const admin = pair('admin-user', 'admin-password');
  let parsedMetricsUrl: URL | undefined;
  if (metricsUrl !== undefined) {
    try {
      parsedMetricsUrl = new URL(metricsUrl);
    } catch {
      throw new FlagError(`--metrics-url: "${metricsUrl}" is not a URL.`);
    }
  }
  return {
    url: parseBaseUrl(get('url')),
    warm: parsePositiveInt(get('warm') ?? '20', 'warm', 10_000),
    ...(metricsToken ? { metricsToken } : {}),
    ...(parsedMetricsUrl ? { metricsUrl: parsedMetricsUrl } : {}),
    ...(user ? { user } : {}),
    ...(admin ? { admin } : {}),
    ai: !switches.has('no-ai'),
    timeoutMs: parseDuration(get('timeout') ?? '60s', 'timeout'),
    ...(get('out') ? { out: get('out')! } : {}),
  };
}

function run(args: string[]): Promise<number> {
  return runParsed(args, HELP, options, (opts) => runCache(opts, commandLine('cache', args)));
}

interface PagePlan {
  endpoint: string;
  label: string;
  path: string;
  coldMeaning: string;
}

type Page = CacheSection['pages'][number];

export async function runCache(opts: CacheOptions, asRun: string): Promise<number> {
  const startedAt = new Date();
  const loadAtStart = loadAverage();
  const interrupt = new AbortController();
  const sigint = onInterrupt(interrupt);
  const client = new HttpClient({
    base: opts.url,
    timeoutMs: opts.timeoutMs,
    connections: 2,
    stop: interrupt.signal,
  });
  const metricsClient = opts.metricsUrl
    ? new HttpClient({
        base: new URL(opts.metricsUrl.origin),
        timeoutMs: 10_000,
        connections: 1,
        stop: interrupt.signal,
      })
    : client;
  const metrics = metricsReader(
    metricsClient,
    opts.metricsUrl ? opts.metricsUrl.pathname + opts.metricsUrl.search : '/metrics',
    opts.metricsToken,
  );
  const id = runId();
  const notes: string[] = [];
  const tally = { requests: 0, errors: 0 };
  const pages: Page[] = [];

  try {
    const plan = await prepareAccounts(client, {
      count: 1,
      runId: id,
      ...(opts.user ? { user: opts.user } : {}),
      ...(opts.admin ? { admin: opts.admin } : {}),
      ...(process.env[ADMIN_TOKEN_ENV] ? { adminToken: process.env[ADMIN_TOKEN_ENV] } : {}),
    });
    notes.push(...plan.notes);
    let author: Session | undefined;
    if (plan.canWrite) {
      author = new Session(client);
      const outcome = await author.login(plan.accounts[0]!);
      if (!outcome.ok)
        throw new Error(
          `Signing in as ${plan.accounts[0]!.login} failed (${outcome.status || outcome.error}).`,
        );
    }
    const plans = await planPages(client, author, id, !opts.user);
    for (const note of notes) console.error(note);

    const progress = startProgress(() => tally);
    const request = async (spec: BenchRequest): Promise<BenchOutcome> => {
      const outcome = await client.request(spec);
      if (!outcome.aborted) {
        tally.requests++;
        if (!outcome.ok) tally.errors++;
      }
      return outcome;
    };

    for (const page of plans) {
      if (interrupt.signal.aborted) break;
      progress.phase(`cache ${page.endpoint}`);
      pages.push(
        await measure(page, { path: page.path, expect: [200] }, opts.warm, metrics, request, 'pages'),
      );
    }

    if (!opts.ai) notes.push('AI draft skipped (--no-ai).');
    else if (!author) notes.push('AI draft skipped: no author account.');
    else if (!interrupt.signal.aborted) {
      const ai = await aiStatus(author);
      if (!ai.ok) notes.push(`AI draft skipped: ${ai.note}.`);
      else {
        progress.phase('cache ai-draft');
        const title = `Bench cache ${id}: a walk by the river`;
        const aiRequest = async (spec: BenchRequest) => {
          const outcome = await author.request(spec);
          if (!outcome.aborted) {
            tally.requests++;
            if (!outcome.ok) tally.errors++;
          }
          return outcome;
        };
        pages.push(
          await measure(
            {
              endpoint: 'ai-draft',
              label: 'POST /api/v1/ai/write (draft, SSE)',
              path: '',
              coldMeaning:
                'a title never asked for before; warm: the same title again (the generation cache)',
            },
            aiDraftRequest(title),
            opts.warm,
            metrics,
            aiRequest,
            'ai',
          ),
        );
      }
    }
    progress.stop();

    const interrupted = sigint.interrupted();
    const section: CacheSection = {
      kind: 'cache',
      settings: { warmRequests: opts.warm },
      interrupted,
      pages,
      ...(metrics.problem ? { metricsNote: `${metrics.problem}; hit rates left empty, not inferred.` } : {}),
      notes,
    };
    if (section.metricsNote) console.error(section.metricsNote);
    console.log(
      formatTable(
        ['page', 'cold ms', 'warm p50', 'warm p99', 'speed-up', 'server hit rate'],
        pages.map((p) => [
          p.endpoint,
          p.cold.p50.toFixed(1),
          p.warm.p50.toFixed(2),
          p.warm.p99.toFixed(2),
          `${p.speedup.toFixed(1)}x`,
          p.serverHitRate === null ? '-' : `${(p.serverHitRate * 100).toFixed(0)}%`,
        ]),
      ),
    );
    return finishRun({ startedAt, url: opts.url, command: asRun, loadAtStart, section, out: opts.out });
  } finally {
    sigint.dispose();
    await client.close();
    if (metricsClient !== client) await metricsClient.close();
  }
}

/** One page: metrics, the cold request, N warm ones, metrics again. */
async function measure(
  plan: PagePlan,
  spec: BenchRequest,
  warmCount: number,
  metrics: MetricsReader,
  request: (spec: BenchRequest) => Promise<BenchOutcome>,
  counts: 'pages' | 'ai',
): Promise<Page> {
  const before = await metrics.read();
  const cold = await request(spec);
  const warm: BenchOutcome[] = [];
  for (let i = 0; i < warmCount && !cold.aborted; i++) {
    const outcome = await request(spec);
    if (outcome.aborted) break;
    warm.push(outcome);
  }
  const after = before ? await metrics.read() : undefined;
  const okMs = (list: BenchOutcome[]) => list.filter((o) => o.ok).map((o) => o.ms);
  const coldLatency = summarize(okMs([cold]));
  const warmLatency = summarize(okMs(warm));
  const page: Page = {
    endpoint: plan.endpoint,
    label: plan.label || `GET ${plan.path}`,
    cold: coldLatency,
    warm: warmLatency,
    speedup: round(ratio(coldLatency.p50, warmLatency.p50), 2),
    ...serverRate(before, after, counts),
    coldMeaning: cold.ok ? plan.coldMeaning : `${plan.coldMeaning} (the cold request failed: ${cold.error})`,
  };
  if (spec.sse) {
    page.ttftCold = summarize([cold].filter((o) => o.ok).map((o) => o.ttftMs ?? Number.NaN));
    page.ttftWarm = summarize(warm.filter((o) => o.ok).map((o) => o.ttftMs ?? Number.NaN));
  }
  return page;
}

function serverRate(
  before: CacheCounts | undefined,
  after: CacheCounts | undefined,
  counts: 'pages' | 'ai',
): Pick<Page, 'serverHitRate' | 'serverHits' | 'serverMisses'> {
  if (!before || !after) return { serverHitRate: null, serverHits: null, serverMisses: null };
  const hits = counts === 'ai' ? after.aiHits - before.aiHits : after.hits - before.hits;
  const reads = counts === 'ai' ? after.aiRequests - before.aiRequests : after.reads - before.reads;
  return {
    serverHits: hits,
    serverMisses: reads - hits,
    // No reads at all: the server answered without its cache; a rate of nothing is not 0%.
    serverHitRate: reads > 0 ? round(hits / reads, 4) : null,
  };
}

/** The pages to measure and what cold means for each (see the file's first comment). */
async function planPages(
  client: HttpClient,
  author: Session | undefined,
  id: string,
  freshAuthor: boolean,
): Promise<PagePlan[]> {
  const word = `benchcache${id}`;
  const afterWrite = 'the first request after the bench published a post (a write invalidates it)';
  if (author) {
    const tag = `bench-${id}`;
    const post: PostRef = await createPost(author, {
      title: `Bench cache ${id}`,
      body: benchBody(word),
      tags: [tag],
    });
    const tagSlug = post.tags[0]?.slug ?? tag;
    const never = 'never requested before: made by the bench for this run';
    return [
      { endpoint: 'home', label: 'GET /', path: '/', coldMeaning: afterWrite },
      { endpoint: 'post', label: 'GET /posts/:slug', path: post.url, coldMeaning: `a post ${never}` },
      { endpoint: 'tag', label: 'GET /tags/:tag', path: `/tags/${tagSlug}`, coldMeaning: `a tag ${never}` },
      {
        endpoint: 'author',
        label: 'GET /@:username',
        path: `/@${post.author.username}`,
        coldMeaning: freshAuthor ? `an author ${never}` : afterWrite,
      },
      {
        endpoint: 'search',
        label: 'GET /search?q=',
        path: `/search?q=${word}`,
        coldMeaning: `a search for a word only the bench's new post has, ${never}`,
      },
      { endpoint: 'feed', label: 'GET /feed.xml', path: '/feed.xml', coldMeaning: afterWrite },
      { endpoint: 'sitemap', label: 'GET /sitemap.xml', path: '/sitemap.xml', coldMeaning: afterWrite },
    ];
  }
  const firstOfRun =
    'only the first request of this run: with no author account the bench cannot make a fresh page, and the server may have cached it before';
  const [post] = await publishedPosts(client, 1);
  const plans: PagePlan[] = [{ endpoint: 'home', label: 'GET /', path: '/', coldMeaning: firstOfRun }];
  if (post) {
    plans.push({ endpoint: 'post', label: 'GET /posts/:slug', path: post.url, coldMeaning: firstOfRun });
    if (post.tags[0])
      plans.push({
        endpoint: 'tag',
        label: 'GET /tags/:tag',
        path: `/tags/${post.tags[0].slug}`,
        coldMeaning: firstOfRun,
      });
    plans.push({
      endpoint: 'author',
      label: 'GET /@:username',
      path: `/@${post.author.username}`,
      coldMeaning: firstOfRun,
    });
  }
  plans.push(
    // A query nobody has asked: never cached, whatever else was.
    {
      endpoint: 'search',
      label: 'GET /search?q=',
      path: `/search?q=${word}`,
      coldMeaning: 'a search never asked before (a word made for this run)',
    },
    { endpoint: 'feed', label: 'GET /feed.xml', path: '/feed.xml', coldMeaning: firstOfRun },
    { endpoint: 'sitemap', label: 'GET /sitemap.xml', path: '/sitemap.xml', coldMeaning: firstOfRun },
  );
  return plans;
}

export const command: BenchCommand = {
  summary: 'cold against warm requests per page kind and AI draft, with the server’s hit rate',
  run,
};
