// One run of the AI benchmark: the fake model server in one process, Inkstone in another,
// the load client here; every scenario in turn; one result object. The scale-out scenarios
// start more Inkstone processes for their own time: one with Redis (BullMQ), then two on one
// Redis and one PostgreSQL.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnvSchema, variablesOf } from '../../src/config-schema.js';
import { canPin, type Child, forkChild, forkInkstone, freePort, pinSelf } from './children.js';
import { createSchema, deleteRunKeys, redisPrefix, redisProblem } from './backends.js';
import type { Protocol, Target } from './client.js';
import { type DoorsResult, listModels, measureDoors } from './doors.js';
import { type Command, type FakeCommand, type InkstoneCommand, KEEP_ALIVE_MS } from './ipc.js';
import { compareJobs, type JobsResult, type JobsRun, measureJobs } from './jobs.js';
import { type InstancesResult, measureInstances } from './instances.js';
import {
  type CoalescingResult,
  measureCoalescing,
  measureReplay,
  measureTtft,
  warmUpPaths,
  type ReplayResult,
  TARGETS,
  type TtftLevel,
} from './latency.js';
import { measureThousand, measureThroughput, type ThousandResult, type ThroughputResult } from './load.js';
import type { AiBenchOptions, Scenario } from './options.js';
import { type ProfileSummary, summarizeProfile } from './profile.js';
import { mapProfile, SOURCE_MAPS_FILE } from '../profile/source-maps.js';
import { type LoadAverage, loadAverage } from '../../src/bench/stats.js';
import type { World } from './world.js';

export interface AiBenchResult {
  bench: 'ai';
  startedAt: string;
  finishedAt: string;
  machine: { node: string; cpus: number; cpuModel: string; platform: string };
  layout: { pinned: boolean; client: string; fake: string; inkstone: string; note: string };
  loadAverage: { start: LoadAverage; end: LoadAverage };
  protocol: Protocol;
  settings: Omit<
    AiBenchOptions,
    'log' | 'profileDir' | 'pin' | 'inkstoneNodeArgs' | 'redisUrl' | 'postgresUrl' | 'signal'
  >;
  targets: typeof TARGETS;
  ttft: TtftLevel[];
  throughput?: ThroughputResult;
  thousand?: ThousandResult;
  coalescing?: CoalescingResult;
  replay?: ReplayResult;
  /** The OpenAI door vs the editor's vs direct, time to first token. */
  doors?: DoorsResult;
  jobs?: JobsResult;
  instances?: InstancesResult;
  /** Why the two-instance scenario did not run (Redis or PostgreSQL unreachable). */
  instancesSkipped?: string;
  profile?: ProfileSummary;
  /** Stopped early (Ctrl-C): the scenarios not in the result were not run. */
  interrupted: boolean;
  pass: boolean;
}

/**
 * Inkstone's environment: the fake as its provider, nothing inherited. The `default` alias has
 * slots for every stream (AI_CONCURRENCY=1024), so limits are not what the latency scenarios
 * measure; the `capacity` alias (AI_MODELS_FILE) reaches the same fake through a provider with
 * exactly the fake's slots, as AI_CONCURRENCY would be set in production.
 */
function inkstoneEnv(dir: string, fakeUrl: string, protocol: Protocol, slots: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Whatever Inkstone variables the shell has set would change what is measured.
  for (const [variable] of variablesOf(EnvSchema)) delete env[variable];
  const baseUrl = protocol === 'ollama' ? fakeUrl : `${fakeUrl}/v1`;
  const models = join(dir, 'models.json');
  writeFileSync(
    models,
    JSON.stringify({
      providers: { capacity: { kind: protocol, baseUrl, concurrency: slots } },
      aliases: { [CAPACITY_ALIAS]: { provider: 'capacity', model: MODEL } },
    }),
  );
  return {
    ...env,
    NODE_ENV: 'production',
    SESSION_SECRET: randomBytes(32).toString('hex'),
    LOG_LEVEL: 'silent',
    DATABASE_URL: `sqlite:${join(dir, 'inkstone.db')}`,
    AI_PROVIDER: protocol,
    AI_BASE_URL: baseUrl,
    AI_MODEL: MODEL,
    AI_MODELS_FILE: models,
    AI_CONCURRENCY: '1024',
    AI_MAX_QUEUE: '10000',
    AI_USER_CONCURRENCY: '1000',
    // One author sends every request: the per-user limits would otherwise be what is measured.
    AI_REQUESTS_PER_MINUTE: '1000000',
    AI_TOKENS_PER_DAY: '1000000000',
    HTTP_KEEP_ALIVE_TIMEOUT_MS: String(KEEP_ALIVE_MS),
  };
}

const MODEL = 'glm4';
const CAPACITY_ALIAS = 'capacity';

export async function runAiBench(options: AiBenchOptions): Promise<AiBenchResult> {
  const { log, protocol } = options;
  const startedAt = new Date().toISOString();
  const start = loadAverage();
  // Before pinning: afterwards this process would see only its own CPU.
  const cpuCount = availableParallelism();
  const pinned = options.pin && cpuCount >= 2 && canPin();
  if (pinned) pinSelf(0);
  const layout = pinned
    ? {
        pinned,
        client: 'CPU 0',
        fake: 'CPU 0',
        inkstone: 'CPU 1',
        note: 'the load client and the fake model server share CPU 0; Inkstone has CPU 1 (other work on the machine may run on either)',
      }
    : {
        pinned,
        client: 'any',
        fake: 'any',
        inkstone: 'any',
        note: `not pinned: the scheduler spreads the three processes over ${cpuCount} CPUs`,
      };
  log(`AI benchmark: ${layout.note}; load average ${start.join(' ')}`);
  // A folder per run: --cpu-prof writes one file per thread (tsx's loader runs in a worker),
  // and the main thread's is the one named with thread id 0.
  const profileDir = options.profileDir && join(options.profileDir, startedAt.replace(/[:.]/g, '-'));
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), 'inkstone-bench-'));
  // The fake's port is chosen here so that Inkstone can be configured with it before the fake is
  // up: both processes load their code (seconds) at the same time.
  const fakeUrl = `http://127.0.0.1:${await freePort()}`;
  const fakeStarting = forkChild<FakeCommand>('fake model server', './fake-child.ts', {
    cpu: pinned ? 0 : undefined,
    env: { ...process.env, FAKE_PORT: new URL(fakeUrl).port },
  });
  // The control: a bare relay to the fake on Inkstone's CPU (idle but for its own turns).
  const relayStarting = forkChild<InkstoneCommand>('bare relay', './relay-child.ts', {
    cpu: pinned ? 1 : undefined,
    env: { ...process.env, RELAY_UPSTREAM: fakeUrl },
  });
  const inkstoneStarting = forkInkstone('Inkstone', {
    log,
    cpu: pinned ? 1 : undefined,
    nodeArgs: [
      '--expose-gc',
      ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, '--enable-source-maps'] : []),
      ...(options.inkstoneNodeArgs ?? []),
    ],
    env: {
      ...inkstoneEnv(dir, fakeUrl, protocol, options.throughput.slots),
      ...(profileDir ? { [SOURCE_MAPS_FILE]: join(profileDir, 'source-maps.json') } : {}),
    },
  });
  const direct: Target = { via: 'direct', url: fakeUrl, protocol, model: MODEL, keepAlive: '5m' };
  const result: Omit<AiBenchResult, 'finishedAt' | 'loadAverage' | 'pass' | 'interrupted'> = {
    bench: 'ai',
    startedAt,
    machine: {
      node: process.version,
      cpus: cpuCount,
      cpuModel: cpus()[0]?.model ?? '?',
      platform: `${process.platform}-${process.arch}`,
    },
    layout,
    protocol,
    settings: {
      protocol,
      ttft: options.ttft,
      throughput: options.throughput,
      thousand: options.thousand,
      coalescing: options.coalescing,
      replay: options.replay,
      doors: options.doors,
      jobs: options.jobs,
      instances: options.instances,
    },
    targets: TARGETS,
    ttft: [],
  };
  const children: Child<Command>[] = [];
  const scope: Scope = { dir, fakeUrl, pinned, children, cleanups: [], usedRedis: false };
  try {
    const settled = await Promise.allSettled([fakeStarting, inkstoneStarting, relayStarting]);
    for (const x of settled) if (x.status === 'fulfilled') children.push(x.value);
    for (const x of settled) if (x.status === 'rejected') throw x.reason;
    const [fake, inkstone, relay] = await Promise.all([fakeStarting, inkstoneStarting, relayStarting]);
    const { token = '', url } = inkstone.ready;
    const world: World = {
      fake,
      inkstone,
      direct,
      through: { via: 'inkstone', url, token },
      relay: { ...direct, url: relay.ready.url },
      log,
    };

    if (profileDir) {
      const busiest = options.ttft.levels.at(-1)!;
      log(`profiling Inkstone at ${busiest.concurrency} streams (its numbers include the profiler's cost)`);
      // Warmed before the window, so that the profile shows the level, not V8 tiering up.
      await warmUpPaths(world, options.ttft);
      const from = await inkstone.call<number>({ type: 'clock' });
      result.ttft = await measureTtft(world, { ...options.ttft, levels: [busiest], jitWarmup: 0 });
      const to = await inkstone.call<number>({ type: 'clock' });
      // The profile is written when the process exits.
      await inkstone.close();
      const main = readdirSync(profileDir).find((f) => /\.\d+\.0\.\d+\.cpuprofile$/.test(f));
      if (!main) throw new Error(`no main-thread profile in ${profileDir}`);
      mapProfile(join(profileDir, main), join(profileDir, 'source-maps.json'));
      result.profile = summarizeProfile(join(profileDir, main), [from, to]);
    } else {
      // As an OpenAI client would: the door's aliases from GET /v1/models.
      const models = await listModels(url, token);
      for (const alias of ['default', CAPACITY_ALIAS]) {
        if (!models.includes(alias))
          throw new Error(`GET /v1/models lists ${models.join(', ')}, not ${alias}`);
      }
      world.door = { via: 'openai-door', url, token, model: 'default' };
      const capacity: Target = { ...world.through, model: CAPACITY_ALIAS };
      const capacityDoor: Target = { ...world.door, model: CAPACITY_ALIAS };
      // Loading the code leaves tens of MB of garbage whose first full collection
      // (10 ms and more) would otherwise land in the first scenario's samples: a server in
      // production has shed its start's garbage long before it serves steady traffic.
      await inkstone.call({ type: 'memory', gc: true });
      // One scenario after another; Ctrl-C (the signal) lets the one under way finish.
      const scenarios: [Scenario, string, () => Promise<unknown>][] = [
        [
          'ttft',
          'time to first token, direct vs through Inkstone',
          async () => (result.ttft = await measureTtft(world, options.ttft)),
        ],
        [
          'doors',
          `the OpenAI door vs the editor's vs direct, ${options.doors.concurrency} streams`,
          async () => (result.doors = await measureDoors(world, options.doors, options.ttft.timings)),
        ],
        [
          'coalescing',
          'coalescing',
          async () => (result.coalescing = await measureCoalescing(world, options.coalescing)),
        ],
        ['replay', 'cache replay', async () => (result.replay = await measureReplay(world, options.replay))],
        [
          'thousand',
          `${options.thousand.streams} concurrent streams`,
          async () => (result.thousand = await measureThousand(world, options.thousand)),
        ],
        [
          'throughput',
          `throughput at the model's capacity (${options.throughput.slots} slots), both doors`,
          async () =>
            (result.throughput = await measureThroughput(
              { ...world, through: capacity, door: capacityDoor },
              options.throughput,
            )),
        ],
        ['jobs', 'jobs', async () => (result.jobs = await runJobs(world, options, scope))],
        [
          'instances',
          'two instances',
          async () => {
            const instances = await runInstances(world, options, scope);
            if (typeof instances === 'string') {
              result.instancesSkipped = instances;
              log(`  SKIPPED two instances: ${instances}`);
            } else result.instances = instances;
          },
        ],
      ];
      for (const [key, name, scenario] of scenarios) {
        if (options.signal?.aborted) break;
        if (options.only && !options.only.includes(key)) continue;
        if (name !== 'jobs' && name !== 'two instances') log(name);
        try {
          await scenario();
        } catch (error) {
          // Ctrl-C reached an Inkstone still loading its code (it ignores Ctrl-C once it serves).
          if (options.signal?.aborted) break;
          throw error;
        }
      }
    }
  } finally {
    // Whatever happened, no child outlives the run (close() is a no-op on one already gone).
    await Promise.all(children.map((child) => child.close()));
    // Then what they leave behind: the run's PostgreSQL schema and its Redis keys.
    if (scope.usedRedis) scope.cleanups.push(() => deleteRunKeys(options.redisUrl));
    await Promise.all(scope.cleanups.map((cleanup) => cleanup().catch((e: unknown) => log(`cleanup: ${e}`))));
    rmSync(dir, { recursive: true, force: true });
  }
  const verdicts = [
    ...result.ttft.map((x) => x.pass),
    result.throughput?.pass,
    result.thousand?.pass,
    result.coalescing?.pass,
    result.replay?.pass,
    result.doors?.pass,
    result.jobs?.pass,
    result.instances?.pass,
  ].filter((x) => x !== undefined);
  return {
    ...result,
    interrupted: options.signal?.aborted ?? false,
    finishedAt: new Date().toISOString(),
    loadAverage: { start, end: loadAverage() },
    pass: verdicts.every(Boolean),
  };
}

/** What the scale-out scenarios start and leave behind, for runAiBench to close and clean. */
interface Scope {
  dir: string;
  fakeUrl: string;
  pinned: boolean;
  children: Child<Command>[];
  cleanups: (() => Promise<unknown>)[];
  /** Keys were written under the run's prefix: delete them at the end. */
  usedRedis: boolean;
}

/** Another Inkstone, on Inkstone's CPU when pinned, closed with the others whatever happens. */
async function startInkstone(scope: Scope, name: string, env: NodeJS.ProcessEnv) {
  const child = await forkInkstone(name, {
    cpu: scope.pinned ? 1 : undefined,
    nodeArgs: ['--expose-gc'],
    env,
  });
  scope.children.push(child);
  return child;
}

/** Jobs on the in-process queue (the main Inkstone), then through BullMQ (one with Redis). */
async function runJobs(world: World, options: AiBenchOptions, scope: Scope): Promise<JobsResult> {
  const { log, throughput } = options;
  const main = { url: world.inkstone.ready.url, token: world.inkstone.ready.token ?? '' };
  log(`jobs at the model's capacity, in-process queue`);
  const inProcess = await measureJobs(world, main, 'in-process', options.jobs, throughput, CAPACITY_ALIAS);
  const problem = await redisProblem(options.redisUrl);
  if (problem) {
    log(`  SKIPPED jobs through BullMQ: ${problem}`);
    return compareJobs(throughput.slots, inProcess, { skipped: problem });
  }
  log("jobs at the model's capacity, BullMQ");
  scope.usedRedis = true;
  const workers = String(options.jobs.workerConcurrency);
  const inkstone = await startInkstone(scope, 'Inkstone with BullMQ', {
    ...inkstoneEnv(scope.dir, scope.fakeUrl, options.protocol, throughput.slots),
    // Its own SQLite file: it differs from the in-process run by the queue alone.
    DATABASE_URL: `sqlite:${join(scope.dir, 'bullmq.db')}`,
    REDIS_URL: options.redisUrl,
    REDIS_PREFIX: redisPrefix('jobs'),
    AI_WORKER_CONCURRENCY: workers,
    AI_WEB_WORKER_CONCURRENCY: workers,
  });
  let bullmq: JobsRun;
  try {
    const target = { url: inkstone.ready.url, token: inkstone.ready.token ?? '' };
    bullmq = await measureJobs(world, target, 'bullmq', options.jobs, throughput, CAPACITY_ALIAS);
  } finally {
    await inkstone.close();
  }
  return compareJobs(throughput.slots, inProcess, bullmq);
}

/** Two Inkstones on one Redis and one PostgreSQL schema; a sentence when either is unreachable. */
async function runInstances(
  world: World,
  options: AiBenchOptions,
  scope: Scope,
): Promise<InstancesResult | string> {
  const { log, throughput } = options;
  log('two instances on one Redis and one PostgreSQL');
  const problem = await redisProblem(options.redisUrl);
  if (problem) return problem;
  const schema = await createSchema(options.postgresUrl);
  if (typeof schema === 'string') return schema;
  scope.cleanups.push(schema.drop);
  scope.usedRedis = true;
  const env = {
    ...inkstoneEnv(scope.dir, scope.fakeUrl, options.protocol, throughput.slots),
    DATABASE_URL: schema.databaseUrl,
    REDIS_URL: options.redisUrl,
    REDIS_PREFIX: redisPrefix('pair'),
  };
  const started = await Promise.allSettled([
    startInkstone(scope, 'Inkstone A', env),
    startInkstone(scope, 'Inkstone B', env),
  ]);
  const pair = started.flatMap((x) => (x.status === 'fulfilled' ? [x.value] : []));
  try {
    for (const x of started) if (x.status === 'rejected') throw x.reason;
    const [a, b] = pair.map((x): Target => ({
      via: 'inkstone',
      url: x.ready.url,
      token: x.ready.token ?? '',
      model: CAPACITY_ALIAS,
    }));
    return await measureInstances(world, [a!, b!], options.instances, throughput, 'postgres');
  } finally {
    await Promise.all(pair.map((x) => x.close()));
  }
}
