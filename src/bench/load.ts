// `inkstone bench load`: virtual users, each looping over a weighted mix of what readers and
// authors do, with think time between actions. Readers (home, post) are anonymous, as most
// visitors are, so they get the pages the cache serves; log-in, writing and AI drafts use the
// bench's own accounts (accounts.ts).
import { type Credentials, ADMIN_TOKEN_ENV, prepareAccounts, Session } from './accounts.js';
import type { BenchCommand } from './cli.js';
import { between, pause, Recorder, weightedPicker } from './engine.js';
import {
  commandLine,
  credentialFlags,
  FlagError,
  parseBaseUrl,
  parseDuration,
  parseFlags,
  parsePositiveInt,
  parseRange,
  runParsed,
} from './flags.js';
import { type BenchRequest, HttpClient } from './http.js';
import { onInterrupt, startProgress } from './progress.js';
import type { LoadSection } from './results.js';
import { DEFAULT_WEIGHTS, LOAD_KINDS, type LoadKind, loadScenario } from './scenario.js';
import { aiDraftRequest, aiStatus, BENCH_TAG, benchBody, createPost, publishedPosts, runId } from './site.js';
import { loadAverage } from './stats.js';
import { endpointTable } from './table.js';
import { finishRun } from './write.js';

const HELP = `Usage: inkstone bench load --url URL [options]

Virtual users loop over a weighted mix (home 10, post 5, login 1, create-post 1, ai-draft 2)
with think time between actions, and report each endpoint's requests/s, latency percentiles
and errors by kind, and a timeline (one point a second).

  --url URL               the Inkstone to test (required)
  --users N               virtual users (default 10)
  --duration D            how long to run: 60s, 2m (default 60s)
  --think RANGE           pause between a user's actions: 1-5s (default), 500ms-2s, 0 (flat out)
  --scenario FILE         JSON: {"weights": {"home": 10, ...}, "think": "1-5s"}
  --timeout D             per-request limit (default 30s; AI drafts take long)
  --accounts N            test accounts to register (default: users, at most 10)
  --user NAME --password P        sign in as this author instead of registering accounts
  --admin-user NAME --admin-password P
                          an admin who makes the registered accounts authors (posts and AI
                          drafts need one); or set ${ADMIN_TOKEN_ENV} to an admin's API token
  --out DIR               where results.json goes (default bench-results/<time>/)

Without an author account, create-post and ai-draft are skipped with a note; without any
account (registration closed), login is skipped too. Ctrl-C stops and writes what was measured.
Posts it writes are drafts titled "Bench post …", tagged ${BENCH_TAG}.`;

const LABELS: Record<LoadKind, string> = {
  home: 'GET /',
  post: 'GET /posts/:slug',
  login: 'POST /api/v1/auth/login',
  'create-post': 'POST /api/v1/posts',
  'ai-draft': 'POST /api/v1/ai/write (draft, SSE)',
};

interface LoadOptions {
  url: URL;
  users: number;
  durationMs: number;
  thinkMs: [number, number];
  weights: Record<LoadKind, number>;
  scenarioFile?: string;
  timeoutMs: number;
  accounts: number;
  user?: Credentials;
  admin?: Credentials;
  out?: string;
}

async function options(args: string[]): Promise<LoadOptions | 'help'> {
  const { values, switches } = parseFlags(args, {
    values: [
      'url',
      'users',
      'duration',
      'think',
      'scenario',
      'timeout',
      'accounts',
      'user',
      'password',
      'admin-user',
      'admin-password',
      'out',
    ],
    switches: ['help'],
  });
  if (switches.has('help')) return 'help';
  const get = (name: string) => values.get(name);
  const pair = (name: string, secret: string) => credentialFlags(values, name, secret);
  const scenarioFile = get('scenario');
  const scenario = scenarioFile ? await loadScenario(scenarioFile) : undefined;
  const users = parsePositiveInt(get('users') ?? '10', 'users', 10_000);
  const think = get('think');
  const user = pair('user', 'password');
  const admin = pair('admin-user', 'admin-password');
  return {
    url: parseBaseUrl(get('url')),
    users,
    durationMs: parseDuration(get('duration') ?? '60s', 'duration'),
    // The flag wins over the file, the file over the default.
    thinkMs: think !== undefined ? parseRange(think, 'think') : (scenario?.thinkMs ?? [1000, 5000]),
    weights: scenario?.weights ?? { ...DEFAULT_WEIGHTS },
    ...(scenarioFile ? { scenarioFile } : {}),
    timeoutMs: parseDuration(get('timeout') ?? '30s', 'timeout'),
    accounts: parsePositiveInt(get('accounts') ?? String(Math.min(users, 10)), 'accounts', 1000),
    ...(user ? { user } : {}),
    ...(admin ? { admin } : {}),
    ...(get('out') ? { out: get('out')! } : {}),
  };
}

function run(args: string[]): Promise<number> {
  return runParsed(args, HELP, options, (opts) => runLoad(opts, commandLine('load', args)));
}

export async function runLoad(opts: LoadOptions, asRun: string): Promise<number> {
  const startedAt = new Date();
  const loadAtStart = loadAverage();
  const interrupt = new AbortController();
  const sigint = onInterrupt(interrupt);
  const stop = new AbortController();
  interrupt.signal.addEventListener('abort', () => stop.abort(), { once: true });
  const setup = new HttpClient({
    base: opts.url,
    timeoutMs: opts.timeoutMs,
    connections: 4,
    stop: interrupt.signal,
  });
  const client = new HttpClient({
    base: opts.url,
    timeoutMs: opts.timeoutMs,
    connections: opts.users + 2,
    stop: stop.signal,
  });
  const id = runId();
  const notes: string[] = [];
  const weights = { ...opts.weights };
  const skip = (kind: LoadKind, why: string) => {
    if (weights[kind] > 0) notes.push(`${kind} skipped: ${why}.`);
    weights[kind] = 0;
  };

  try {
    // Accounts only when something needs one.
    let accounts: Credentials[] = [];
    let canWrite = false;
    if (weights.login + weights['create-post'] + weights['ai-draft'] > 0) {
      const plan = await prepareAccounts(setup, {
        count: opts.accounts,
        runId: id,
        ...(opts.user ? { user: opts.user } : {}),
        ...(opts.admin ? { admin: opts.admin } : {}),
        ...(process.env[ADMIN_TOKEN_ENV] ? { adminToken: process.env[ADMIN_TOKEN_ENV] } : {}),
      });
      accounts = plan.accounts;
      canWrite = plan.canWrite;
      notes.push(...plan.notes);
    }
    if (accounts.length === 0) skip('login', 'no account to sign in with');
    if (!canWrite) {
      skip('create-post', 'no author account');
      skip('ai-draft', 'no author account');
    }
    if (weights['ai-draft'] > 0) {
      const probe = new Session(setup);
      await probe.login(accounts[0]!);
      const ai = await aiStatus(probe);
      if (!ai.ok) skip('ai-draft', ai.note);
    }

    // Posts to read: the site's own; on an empty site, three of the bench's (when it may write).
    let posts = weights.post > 0 ? await publishedPosts(setup) : [];
    if (weights.post > 0 && posts.length === 0 && canWrite) {
      const author = new Session(setup);
      await author.login(accounts[0]!);
      for (let i = 1; i <= 3; i++)
        await createPost(author, {
          title: `Bench reading ${id} ${i}`,
          body: benchBody(`bench${id}r${i}`),
          tags: [BENCH_TAG],
        });
      notes.push('The site had no published posts: the bench published three to read.');
      posts = await publishedPosts(setup);
    }
    if (posts.length === 0) skip('post', 'the site has no published post');
    if (Object.values(weights).every((w) => w === 0))
      throw new FlagError('Nothing left to run: every endpoint was skipped.');
    for (const note of notes) console.error(note);

    const recorder = new Recorder(opts.durationMs / 1000);
    for (const kind of LOAD_KINDS)
      if (weights[kind] > 0) recorder.endpoint(kind, LABELS[kind], kind === 'ai-draft');
    const pick = weightedPicker(weights);
    const sessions = Array.from({ length: opts.users }, () => new Session(client));
    const signedIn = new Set<number>();
    let written = 0;

    const act = async (user: number, kind: LoadKind): Promise<void> => {
      const session = sessions[user]!;
      const credentials = accounts[user % Math.max(1, accounts.length)]!;
      // Writers sign in once before their first write (not measured: "login" is its own kind).
      if ((kind === 'create-post' || kind === 'ai-draft') && !signedIn.has(user)) {
        const outcome = await session.login(credentials);
        if (outcome.aborted) return;
        if (outcome.ok) signedIn.add(user);
        else return recorder.record(kind, outcome);
      }
      let request: BenchRequest;
      switch (kind) {
        case 'home':
          request = { path: '/', expect: [200] };
          break;
        case 'post':
          request = { path: posts[Math.floor(Math.random() * posts.length)]!.url, expect: [200] };
          break;
        case 'login': {
          const outcome = await session.login(credentials);
          if (outcome.ok) signedIn.add(user);
          return recorder.record(kind, outcome);
        }
        case 'create-post': {
          const n = ++written;
          request = {
            method: 'POST',
            path: '/api/v1/posts',
            json: {
              title: `Bench post ${id} ${n}`,
              body: benchBody(`bench${id}p${n}`),
              tags: [BENCH_TAG],
              status: 'draft',
            },
            expect: [201],
          };
          return recorder.record(kind, await session.request(request));
        }
        case 'ai-draft':
          // A title of its own each time: an author drafts a new post, not one already drafted.
          return recorder.record(
            kind,
            await session.request(aiDraftRequest(`Bench draft ${id} ${++written}: notes on a quiet city`)),
          );
      }
      recorder.record(kind, await client.request(request));
    };

    const progress = startProgress(() => recorder, { totalS: Math.round(opts.durationMs / 1000) });
    progress.phase(`load ${opts.users} users`);
    const deadline = setTimeout(() => {
      recorder.close();
      stop.abort();
    }, opts.durationMs);
    const started = performance.now();
    await Promise.all(
      sessions.map(async (_, user) => {
        // Spread the users' first actions over the think time, as arrivals are, not all at once.
        await pause(between([0, opts.thinkMs[1]]), stop.signal);
        while (!stop.signal.aborted) {
          await act(user, pick() as LoadKind);
          await pause(between(opts.thinkMs), stop.signal);
        }
      }),
    );
    clearTimeout(deadline);
    const elapsedS = Math.min(opts.durationMs, performance.now() - started) / 1000;
    progress.stop();

    const section: LoadSection = {
      kind: 'load',
      settings: {
        users: opts.users,
        durationS: opts.durationMs / 1000,
        thinkMs: opts.thinkMs,
        weights,
        ...(opts.scenarioFile ? { scenarioFile: opts.scenarioFile } : {}),
      },
      elapsedS: Math.round(elapsedS * 1000) / 1000,
      interrupted: sigint.interrupted(),
      endpoints: recorder.results(elapsedS),
      timeline: recorder.timeline(),
      notes,
    };
    console.log(endpointTable(section.endpoints));
    return finishRun({ startedAt, url: opts.url, command: asRun, loadAtStart, section, out: opts.out });
  } catch (error) {
    if (error instanceof FlagError) {
      console.error(error.message);
      return 1;
    }
    throw error;
  } finally {
    sigint.dispose();
    await Promise.all([setup.close(), client.close()]);
  }
}

export const command: BenchCommand = {
  summary: 'virtual users over a weighted mix of reads, log-ins, posts and AI drafts',
  run,
};
