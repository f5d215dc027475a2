// What a run measures and how long: the full run (`npm run bench:ai`) and a tiny one (the test).
import type { Protocol } from './client.js';
import type { FakeTimings } from './ipc.js';

export interface TtftOptions {
  timings: Omit<FakeTimings, 'answerTokens'>;
  /**
   * Concurrent streams, how many first tokens to time on each path, and the answers' length:
   * longer at higher concurrency, so that new requests come at a rate a model server with
   * that many streams would see (about 35 a second at 100 streams: each costs Inkstone a few
   * ms of CPU), and at 1 stream short, so that 300 samples take a minute, not ten.
   */
  levels: { concurrency: number; samples: number; answerTokens: number }[];
  /** Streams per level and path before timing starts (connections open, the level's timings). */
  warmup: number;
  /**
   * Streams on every path before the first level, with the fake answering at once: a server
   * that has served a few thousand requests runs its request path as optimised code. Without
   * them the 1-stream level (the first, 300 streams) timed V8 still tiering Inkstone's code up.
   */
  jitWarmup: number;
  /** The samples are split into rounds, direct and Inkstone alternating first, so drift in the machine's load falls on both. */
  rounds: number;
}

export interface ThroughputOptions {
  /** The fake's parallel slots, and Inkstone's AI_CONCURRENCY. */
  slots: number;
  timings: Omit<FakeTimings, 'parallel'>;
  /** Closed-loop clients: more than the slots, so a request is always waiting for each slot. */
  clients: number;
  warmupMs: number;
  windowMs: number;
  rounds: number;
}

export interface ThousandOptions {
  streams: number;
  timings: Omit<FakeTimings, 'parallel'>;
  /** After the last stream, wait this long (sockets close, records are written) before the "after" memory. */
  settleMs: number;
}

/** The three doors at one concurrency, with the TTFT scenario's timings (`ttft.timings`). */
export interface DoorsOptions {
  concurrency: number;
  samples: number;
  answerTokens: number;
  /** Streams per door before timing starts. */
  warmup: number;
  /** Rounds, each door first in turn, so drift in the machine's load falls on all three. */
  rounds: number;
}

/** Jobs at the model's capacity, with the throughput scenario's slots and timings. */
export interface JobsOptions {
  /** Jobs one at a time, each followed to its end before the next: the queue's cost per job. */
  sequential: number;
  /** Jobs in one burst: jobs per second once the queue is full. */
  burst: number;
  /** Clients submitting the burst, each waiting for its 202 before the next. */
  submitters: number;
  /** BullMQ workers in the web process (AI_WEB_WORKER_CONCURRENCY): the model's slots, one job each. */
  workerConcurrency: number;
}

/** Two Inkstone processes on one Redis and one database. */
export interface InstancesOptions {
  /**
   * Identical concurrent requests, alternating between the instances. The model's first token
   * comes late enough for all of them to arrive while it writes: the count is what is measured.
   */
  coalescing: { requests: number; timings: FakeTimings };
  /** Throughput windows (the throughput scenario's slots, timings and clients): one instance vs both. */
  windowMs: number;
  warmupMs: number;
  rounds: number;
}

/** The scenarios of a run, as `--only` names them. */
export const SCENARIOS = [
  'ttft',
  'doors',
  'coalescing',
  'replay',
  'thousand',
  'throughput',
  'jobs',
  'instances',
] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface AiBenchOptions {
  /** Run only these scenarios (all when absent). */
  only?: Scenario[];
  protocol: Protocol;
  /** Pin the processes to CPUs (client + fake on CPU 0, Inkstone on CPU 1) when taskset exists. */
  pin: boolean;
  ttft: TtftOptions;
  throughput: ThroughputOptions;
  thousand: ThousandOptions;
  coalescing: { requests: number; timings: FakeTimings };
  /**
   * Cache hits one at a time, against the floor (the same client and the fake answering at
   * once), in rounds each path first in turn: enough that the p99 is the 10th worst, not the 3rd.
   */
  replay: { repeats: number; rounds: number; timings: FakeTimings };
  doors: DoorsOptions;
  jobs: JobsOptions;
  instances: InstancesOptions;
  /**
   * Redis for the BullMQ and two-instance scenarios, and PostgreSQL (a schema of the run's
   * own) for the latter; unreachable, those scenarios are skipped with the reason.
   */
  redisUrl: string;
  postgresUrl: string;
  /** More node flags for the Inkstone process, for a closer look (--trace-gc, …). */
  inkstoneNodeArgs?: string[];
  /** Only the 100-stream TTFT level, with Inkstone under --cpu-prof; the profile goes here. */
  profileDir?: string;
  log: (line: string) => void;
  /** Aborted (Ctrl-C): the scenario under way finishes, no other starts. */
  signal?: AbortSignal;
}

const UNLIMITED = { parallel: Infinity, maxQueue: 100_000 };

// As the test helpers (test/helpers/redis.ts, db.ts) find them.
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const POSTGRES_URL = process.env.DATABASE_URL?.startsWith('postgres')
  ? process.env.DATABASE_URL
  : 'postgres://postgres@127.0.0.1:5432/test';

// Fixed timings, chosen so that on two cores neither the fake (~60–100 µs of CPU per token) nor
// Inkstone (measured here: ~4 ms per request plus ~0.2 ms per token) runs out of CPU: the TTFT runs stream 10
// tokens/s each (1,000 tokens/s at 100 streams), 1,000 streams 1 token/s each. Faster token
// rates measure the CPU queue, not the pipeline's latency.
export const FULL: AiBenchOptions = {
  protocol: 'ollama',
  pin: true,
  ttft: {
    timings: { ttftMs: 20, interTokenMs: 100, ...UNLIMITED },
    levels: [
      { concurrency: 1, samples: 300, answerTokens: 2 },
      { concurrency: 10, samples: 600, answerTokens: 5 },
      { concurrency: 100, samples: 2000, answerTokens: 30 },
    ],
    warmup: 30,
    jitWarmup: 3000,
    rounds: 4,
  },
  throughput: {
    slots: 16,
    timings: { ttftMs: 20, interTokenMs: 20, answerTokens: 16, maxQueue: 100_000 },
    clients: 32,
    warmupMs: 1500,
    windowMs: 8000,
    rounds: 2,
  },
  thousand: {
    streams: 1000,
    // 30 s each: all 1,000 must be open at once, and opening them costs Inkstone seconds of CPU
    // (a few ms each), more when other work shares its core.
    timings: { ttftMs: 20, interTokenMs: 1000, answerTokens: 31, maxQueue: 100_000 },
    settleMs: 1000,
  },
  coalescing: {
    requests: 100,
    timings: { ttftMs: 50, interTokenMs: 20, answerTokens: 8, ...UNLIMITED },
  },
  replay: {
    repeats: 1000,
    rounds: 4,
    timings: { ttftMs: 20, interTokenMs: 20, answerTokens: 16, ...UNLIMITED },
  },
  // The TTFT table's 10-stream level, with the OpenAI door as a third path.
  doors: { concurrency: 10, samples: 600, answerTokens: 5, warmup: 30, rounds: 4 },
  // 200 jobs at 50/s: four seconds of full queue, against a tail of one generation (0.3 s).
  jobs: { sequential: 30, burst: 200, submitters: 8, workerConcurrency: 16 },
  instances: {
    coalescing: { requests: 100, timings: { ttftMs: 200, interTokenMs: 20, answerTokens: 8, ...UNLIMITED } },
    warmupMs: 1500,
    windowMs: 8000,
    rounds: 2,
  },
  redisUrl: REDIS_URL,
  postgresUrl: POSTGRES_URL,
  log: (line) => console.error(line),
};

/** Seconds, not minutes: proves every scenario runs end to end (test/bench/ai-bench.test.ts). */
export const TINY: AiBenchOptions = {
  protocol: 'ollama',
  pin: false,
  ttft: {
    timings: { ttftMs: 2, interTokenMs: 2, ...UNLIMITED },
    levels: [
      { concurrency: 1, samples: 3, answerTokens: 5 },
      { concurrency: 2, samples: 4, answerTokens: 5 },
    ],
    warmup: 2,
    jitWarmup: 20,
    rounds: 1,
  },
  throughput: {
    slots: 2,
    timings: { ttftMs: 2, interTokenMs: 2, answerTokens: 5, maxQueue: 100 },
    clients: 4,
    warmupMs: 50,
    windowMs: 300,
    rounds: 1,
  },
  // Long enough (200 ms) for all 4 to be open at once.
  thousand: {
    streams: 4,
    timings: { ttftMs: 2, interTokenMs: 50, answerTokens: 5, maxQueue: 100 },
    settleMs: 50,
  },
  coalescing: { requests: 5, timings: { ttftMs: 40, interTokenMs: 2, answerTokens: 5, ...UNLIMITED } },
  replay: { repeats: 3, rounds: 1, timings: { ttftMs: 2, interTokenMs: 2, answerTokens: 5, ...UNLIMITED } },
  doors: { concurrency: 2, samples: 4, answerTokens: 5, warmup: 2, rounds: 1 },
  jobs: { sequential: 2, burst: 6, submitters: 2, workerConcurrency: 2 },
  // 100 as in the full run: the count is what the test checks, and it costs one generation.
  instances: {
    coalescing: { requests: 100, timings: { ttftMs: 200, interTokenMs: 2, answerTokens: 5, ...UNLIMITED } },
    warmupMs: 50,
    windowMs: 300,
    rounds: 1,
  },
  redisUrl: REDIS_URL,
  postgresUrl: POSTGRES_URL,
  log: () => {},
};
