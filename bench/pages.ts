// npm run bench:pages [-- --quick] [--profile] [--no-pin] [--sqlite-only] [--duration S]
//                      [--connections N] [--workers N|auto|0] [--out FILE]
//
// Pages under load: wrk (Debian's) with 100 connections against a bare node:http server
// sending the home page's bytes (the limit), then Inkstone's home page, a post page and
// GET /api/v1/posts uncached, the home and post pages from the page cache, and the home page
// signed in; on SQLite alone and on PostgreSQL (DATABASE_URL=postgres://… or the test
// default, a schema of the run's own; skipped with the reason when unreachable) + Redis. Prints a
// table (progress goes to stderr) and writes bench/results/pages-<date>.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { format, resolveConfig } from 'prettier';
import { connectRedis, createRedisClient } from '../src/plugins/redis.js';
import { parseWorkers } from '../src/cluster.js';
import { ROOT } from './ai/children.js';
import { formatReport } from './pages/report.js';
import { type PagesBenchOptions, runPagesBench } from './pages/run.js';
import { wrkProblem } from './pages/wrk.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    'no-pin': { type: 'boolean', default: false },
    'sqlite-only': { type: 'boolean', default: false },
    duration: { type: 'string' },
    connections: { type: 'string', default: '100' },
    // The cluster targets' worker count (auto: one per core); 0 leaves them out.
    workers: { type: 'string', default: 'auto' },
    out: { type: 'string' },
  },
});

/** The URL when Redis answers; otherwise undefined, said on stderr (the PostgreSQL run goes without). */
async function reachableRedis(url: string): Promise<string | undefined> {
  const client = createRedisClient(url);
  try {
    await connectRedis(client, url, 2000);
    return url;
  } catch (error) {
    console.error(`Redis unreachable (${(error as Error).message}): the PostgreSQL run goes without it`);
    return undefined;
  } finally {
    client.disconnect();
  }
}

const problem = wrkProblem();
if (problem) {
  console.error(`SKIPPED the page benchmark: ${problem}`);
  process.exit(0);
}

const stamp = new Date().toISOString().replace(/:/g, '-').replace(/\..*/, '');
const results = join(ROOT, 'bench', 'results');
const durationS = Number(values.duration ?? (values.quick ? 3 : 10));
const options: PagesBenchOptions = {
  databases: values['sqlite-only'] ? ['sqlite'] : ['sqlite', 'postgres'],
  connections: Number(values.connections),
  clusterWorkers: values.workers === '0' ? 0 : parseWorkers(values.workers),
  threads: 1,
  durationS,
  warmupS: values.quick ? 1 : 3,
  timeoutS: 2,
  pin: !values['no-pin'],
  postgresUrl: process.env.DATABASE_URL?.startsWith('postgres')
    ? process.env.DATABASE_URL
    : 'postgres://postgres@127.0.0.1:5432/test',
  redisUrl: await reachableRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'),
  ...(values.profile ? { profileDir: join(results, 'profiles') } : {}),
  log: (line) => console.error(line),
};

const result = await runPagesBench(options);
console.log(formatReport(result));
const file = values.out ?? join(results, `pages-${values.profile ? 'profile-' : ''}${stamp}.json`);
mkdirSync(dirname(file), { recursive: true });
// Formatted as the repository formats JSON, so `prettier --check .` stays clean after a run.
const json = await format(JSON.stringify(result), { ...(await resolveConfig(file)), parser: 'json' });
writeFileSync(file, json);
console.log(`\nWritten: ${file}`);
