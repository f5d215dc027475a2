// Load: completed generations per second at the model's capacity, through Inkstone (both
// doors) vs direct; and 1,000 streams held at once by one Inkstone process, with its memory.
import { setTimeout as sleep } from 'node:timers/promises';
import { closedLoop, stream, type StreamResult, type Target } from './client.js';
import { generationMsOf, type LoopDelay, type MemoryReport } from './ipc.js';
import type { ThousandOptions, ThroughputOptions } from './options.js';
import { TARGETS } from './latency.js';
import { type LoadAverage, loadAverage, round, summarize } from '../../src/bench/stats.js';
import type { Latency } from '../../src/bench/results.js';
import { cpuNow, failures, fakeStats, freshTitle, MB, setFake, type World } from './world.js';

export type ThroughputPath = 'direct' | 'inkstone' | 'openai';

export interface ThroughputRound {
  path: ThroughputPath;
  completed: number;
  perSecond: number;
  /** The model's slots were all busy (maxInFlight = slots) and, through Inkstone, its own queue unused. */
  modelMaxInFlight: number;
  modelMaxQueued: number;
  inkstoneCpuMsPerGeneration: number;
  errors: ReturnType<typeof failures>;
}

export interface ThroughputResult {
  slots: number;
  clients: number;
  windowMs: number;
  /** slots ÷ one generation's length on the fake: the most any client could get. */
  capacityPerSecond: number;
  directPerSecond: number;
  inkstonePerSecond: number;
  ratio: number;
  /** Through Inkstone's OpenAI door (POST /v1/chat/completions), in the same rounds. */
  openaiPerSecond?: number;
  /** OpenAI door ÷ direct. */
  openaiRatio?: number;
  rounds: ThroughputRound[];
  loadAverage: LoadAverage;
  pass: boolean;
}

export interface CapacityWindow {
  completed: number;
  perSecond: number;
  modelMaxInFlight: number;
  modelMaxQueued: number;
  /** Every stream started, the warm-up's and the window's. */
  results: StreamResult[];
}

/**
 * Closed-loop clients, more than the slots, for warm-up + window; the completions that end
 * inside the window count. The clients start spread over one generation's length: started
 * together, the slots would finish in lockstep and a window would count whole bursts.
 * `target` picks each stream's way in (a worker's i-th stream).
 */
export async function capacityWindow(
  world: Pick<World, 'fake'>,
  options: Pick<ThroughputOptions, 'clients' | 'warmupMs' | 'windowMs' | 'timings'>,
  target: (worker: number, index: number) => Target,
): Promise<CapacityWindow> {
  const { clients, warmupMs, windowMs } = options;
  await world.fake.call({ type: 'reset' });
  const from = performance.now() + warmupMs;
  const to = from + windowMs;
  const results = await closedLoop({
    concurrency: clients,
    until: to,
    staggerMs: generationMsOf(options.timings),
    run: (worker, index) => stream(target(worker, index), freshTitle()),
  });
  const completed = results.filter((x) => x.ok && x.endedAt >= from && x.endedAt < to).length;
  const stats = await fakeStats(world);
  return {
    completed,
    perSecond: round(completed / (windowMs / 1000), 2),
    modelMaxInFlight: stats.maxInFlight,
    modelMaxQueued: stats.maxQueued,
    results,
  };
}

/**
 * Direct, the fake's own queue keeps its slots full; through Inkstone (either door),
 * Inkstone's queue does (AI_CONCURRENCY = slots) and the fake never queues. The paths take
 * turns going first, round by round.
 */
export async function measureThroughput(world: World, options: ThroughputOptions): Promise<ThroughputResult> {
  const { slots, clients, windowMs } = options;
  await setFake(world, { ...options.timings, parallel: slots });
  const targets: Partial<Record<ThroughputPath, Target>> = {
    direct: world.direct,
    inkstone: world.through,
    ...(world.door ? { openai: world.door } : {}),
  };
  const paths = Object.keys(targets) as ThroughputPath[];
  const rounds: ThroughputRound[] = [];
  for (let r = 0; r < options.rounds; r++) {
    const order = [...paths.slice(r % paths.length), ...paths.slice(0, r % paths.length)];
    for (const path of order) {
      const target = targets[path]!;
      const before = await cpuNow(world);
      const window = await capacityWindow(world, options, () => target);
      const after = await cpuNow(world);
      const { results, ...counts } = window;
      rounds.push({
        path,
        ...counts,
        inkstoneCpuMsPerGeneration:
          path === 'direct' ? 0 : round((after.inkstone - before.inkstone) / Math.max(1, results.length)),
        errors: failures(results),
      });
      world.log(`  throughput ${path}: ${window.completed} generations in ${windowMs} ms`);
    }
  }
  const total = (path: ThroughputPath) =>
    rounds.filter((x) => x.path === path).reduce((sum, x) => sum + x.completed, 0);
  const seconds = (options.rounds * windowMs) / 1000;
  const perSecond = (path: ThroughputPath) => round(total(path) / seconds, 2);
  const ratio = round(total('inkstone') / total('direct'), 3);
  const openaiRatio = world.door ? round(total('openai') / total('direct'), 3) : undefined;
  return {
    slots,
    clients,
    windowMs,
    capacityPerSecond: round(slots / (generationMsOf(options.timings) / 1000), 2),
    directPerSecond: perSecond('direct'),
    inkstonePerSecond: perSecond('inkstone'),
    ratio,
    ...(openaiRatio !== undefined ? { openaiPerSecond: perSecond('openai'), openaiRatio } : {}),
    rounds,
    loadAverage: loadAverage(),
    pass:
      ratio >= TARGETS.throughputRatio &&
      (openaiRatio === undefined || openaiRatio >= TARGETS.throughputRatio) &&
      rounds.every((x) => x.errors.count === 0),
  };
}

export interface ThousandResult {
  streams: number;
  completed: number;
  errors: ReturnType<typeof failures>;
  /** Slots the model had busy at once: every stream was generating at the same moment. */
  modelMaxInFlight: number;
  /** The last first token came before the first stream ended: all were open together. */
  allOpenAtOnce: boolean;
  ttft: Latency;
  durationMs: number;
  memoryMB: {
    rssBefore: number;
    rssPeak: number;
    rssAfter: number;
    rssAfterGc: number;
    heapBefore: number;
    heapPeak: number;
    heapAfterGc: number;
  };
  /** Inkstone's event-loop delay while it held the streams. */
  loopDelay: LoopDelay;
  /** Inkstone's CPU time for the whole scenario. */
  inkstoneCpuMs: number;
  loadAverage: LoadAverage;
  pass: boolean;
}

export async function measureThousand(world: World, options: ThousandOptions): Promise<ThousandResult> {
  const { streams } = options;
  await setFake(world, { ...options.timings, parallel: streams });
  const before = await world.inkstone.call<MemoryReport>({ type: 'markMemory', gc: true });
  await world.inkstone.call({ type: 'loopDelay', reset: true });
  const cpuBefore = await cpuNow(world);
  const started = performance.now();
  const results: StreamResult[] = await Promise.all(
    Array.from({ length: streams }, () => stream(world.through, freshTitle())),
  );
  const durationMs = round(performance.now() - started, 1);
  const after = await world.inkstone.call<MemoryReport>({ type: 'memory', gc: false });
  const cpuAfter = await cpuNow(world);
  await sleep(options.settleMs);
  const settled = await world.inkstone.call<MemoryReport>({ type: 'memory', gc: true });
  const stats = await fakeStats(world);
  const ok = results.filter((x) => x.ok);
  const lastFirstToken = Math.max(...results.map((x) => x.endedAt - x.totalMs + x.ttftMs));
  const firstEnd = Math.min(...results.map((x) => x.endedAt));
  const errors = failures(results);
  const allOpenAtOnce = lastFirstToken < firstEnd;
  world.log(
    `  ${streams} streams: ${ok.length} complete, model in flight at once ${stats.maxInFlight}, RSS peak ${MB(after.peakRss)} MB`,
  );
  return {
    streams,
    completed: ok.length,
    errors,
    modelMaxInFlight: stats.maxInFlight,
    allOpenAtOnce,
    ttft: summarize(ok.map((x) => x.ttftMs)),
    durationMs,
    memoryMB: {
      rssBefore: MB(before.now.rss),
      rssPeak: MB(Math.max(after.peakRss, settled.peakRss)),
      rssAfter: MB(after.now.rss),
      rssAfterGc: MB(settled.now.rss),
      heapBefore: MB(before.now.heapUsed),
      heapPeak: MB(Math.max(after.peakHeapUsed, settled.peakHeapUsed)),
      heapAfterGc: MB(settled.now.heapUsed),
    },
    loopDelay: await world.inkstone.call<LoopDelay>({ type: 'loopDelay', reset: true }),
    inkstoneCpuMs: round(cpuAfter.inkstone - cpuBefore.inkstone, 1),
    loadAverage: loadAverage(),
    pass: ok.length === streams && errors.count === 0 && stats.maxInFlight === streams && allOpenAtOnce,
  };
}
