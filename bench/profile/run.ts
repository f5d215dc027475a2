// `npm run profile`: one Inkstone (NODE_ENV=production, seeded SQLite in a temp dir) under the
// V8 CPU profiler (node --cpu-prof) while wrk — or, without wrk, a small loader here — sends it
// requests for one page; the main thread's .cpuprofile is kept and summarised over the loaded
// window only (start-up and loading code left out).
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { canPin, forkInkstone, pinSelf } from '../ai/children.js';
import { type ProfileSummary, summarizeProfile } from '../ai/profile.js';
import { prepareDatabase } from '../pages/database.js';
import { inkstoneEnv, postPath, signIn } from '../pages/run.js';
import { runWrk, wrkProblem } from '../pages/wrk.js';
import { mapProfile, SOURCE_MAPS_FILE } from './source-maps.js';

/** The named targets; anything starting with / is a path of its own (uncached). */
export const PROFILE_TARGETS = [
  'home',
  'post',
  'api',
  'home-cached',
  'post-cached',
  'home-signed-in',
] as const;

export interface ProfileOptions {
  /** One of PROFILE_TARGETS, or a path ('/tags/welcome'). */
  target: string;
  durationS: number;
  warmupS: number;
  connections: number;
  /** Where the .cpuprofile goes. */
  out: string;
  /** Pin the load generator to CPU 0 and Inkstone to CPU 1 (taskset), when there are two. */
  pin: boolean;
  log: (line: string) => void;
}

export interface ProfileRun {
  file: string;
  target: string;
  path: string;
  loader: string;
  requests: number;
  errors: number;
  requestsPerSecond: number;
  summary: ProfileSummary;
}

interface Load {
  requests: number;
  errors: number;
  durationS: number;
}

/** Without wrk: `connections` loops of fetch, each reading its whole answer. */
async function fetchLoad(
  url: string,
  headers: Record<string, string>,
  connections: number,
  durationS: number,
): Promise<Load> {
  const started = performance.now();
  const until = started + durationS * 1000;
  let requests = 0;
  let errors = 0;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < until) {
        try {
          const response = await fetch(url, { headers });
          await response.arrayBuffer();
          if (response.status >= 400) errors++;
        } catch {
          errors++;
        }
        requests++;
      }
    }),
  );
  return { requests, errors, durationS: (performance.now() - started) / 1000 };
}

export function checkTarget(target: string): string | null {
  if (target.startsWith('/') || (PROFILE_TARGETS as readonly string[]).includes(target)) return null;
  return `--target must be one of ${PROFILE_TARGETS.join(', ')} or a path starting with / (got "${target}")`;
}

export async function runProfile(options: ProfileOptions): Promise<ProfileRun> {
  const problem = checkTarget(options.target);
  if (problem) throw new Error(problem);
  const { log } = options;
  const pinned = options.pin && availableParallelism() >= 2 && canPin();
  if (pinned) pinSelf(0);
  const useWrk = wrkProblem() === null;
  const dir = mkdtempSync(join(tmpdir(), 'inkstone-profile-'));
  try {
    log('seeding the demo content (SQLite)');
    const database = await prepareDatabase('sqlite', dir, '');
    if (typeof database === 'string') throw new Error(database);
    const profileDir = join(dir, 'profile');
    const mapsFile = join(dir, 'source-maps.json');
    // The signed-in page as the pages bench runs it: with the page cache on, whose shared
    // bodies serve a signed-in reader the list rendered before, in their own layout.
    const cached = options.target.endsWith('-cached') || options.target === 'home-signed-in';
    const inkstone = await forkInkstone('Inkstone', {
      cpu: pinned ? 1 : undefined,
      // Source maps cost at start-up and when an error's stack is formatted, not per request.
      nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, '--enable-source-maps'],
      env: { ...inkstoneEnv(database.url, cached ? 60 : 0), [SOURCE_MAPS_FILE]: mapsFile },
    });
    let window: [number, number];
    let load: Load;
    let path: string;
    try {
      const base = inkstone.ready.url;
      const name = options.target.replace(/-cached$|-signed-in$/, '');
      path = name.startsWith('/')
        ? name
        : name === 'home'
          ? '/'
          : name === 'api'
            ? '/api/v1/posts'
            : await postPath(base);
      const url = `${base}${path}`;
      // The bench's author, signed in as a browser is: the session and CSRF cookies on every request.
      const headers: Record<string, string> =
        options.target === 'home-signed-in' ? { cookie: await signIn(base) } : {};
      const first = await fetch(url, { headers });
      await first.arrayBuffer();
      if (first.status !== 200) throw new Error(`GET ${path} answered ${first.status}`);
      const loader = async (durationS: number): Promise<Load> => {
        if (!useWrk) return fetchLoad(url, headers, options.connections, durationS);
        const wrk = await runWrk(url, {
          connections: options.connections,
          headers,
          threads: 1,
          durationS,
          timeoutS: 2,
          cpu: pinned ? 0 : undefined,
        });
        const errors = Object.values(wrk.errors).reduce((a, b) => a + b, 0);
        return { requests: wrk.requests, errors, durationS: wrk.durationS };
      };
      log(`GET ${path}: warm-up ${options.warmupS} s, then ${options.durationS} s profiled`);
      await loader(options.warmupS);
      const from = await inkstone.call<number>({ type: 'clock' });
      load = await loader(options.durationS);
      window = [from, await inkstone.call<number>({ type: 'clock' })];
    } finally {
      // The profile is written when the process exits.
      await inkstone.close();
    }
    // tsx's loader runs in a worker thread with a profile of its own: the main thread's is .0.
    const main = readdirSync(profileDir).find((f) => /\.\d+\.0\.\d+\.cpuprofile$/.test(f));
    if (!main) throw new Error(`Inkstone wrote no main-thread profile in ${profileDir}`);
    mkdirSync(dirname(options.out), { recursive: true });
    copyFileSync(join(profileDir, main), options.out);
    mapProfile(options.out, mapsFile);
    return {
      file: options.out,
      target: options.target,
      path,
      loader: useWrk
        ? `wrk -t1 -c${options.connections} -d${options.durationS}s`
        : `${options.connections} fetch loops (wrk is not installed)`,
      requests: load.requests,
      errors: load.errors,
      requestsPerSecond: Math.round(load.requests / (load.durationS || NaN)),
      summary: summarizeProfile(options.out, window),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
