// Time to first token: through Inkstone vs straight to the model, at several concurrencies;
// coalescing of identical requests; and a cache hit's replay.
import { closedLoop, stream, type StreamResult } from './client.js';
import { type Arrival, type FakeTimings, generationMsOf, type LoopDelay, monotonicMs } from './ipc.js';
import type { TtftOptions } from './options.js';
import { type LoadAverage, loadAverage, round, summarize } from '../../src/bench/stats.js';
import type { Latency } from '../../src/bench/results.js';
import { cpuNow, failures, fakeStats, freshTitle, requestId, setFake, type World } from './world.js';

export const TARGETS = { overheadP50Ms: 2, overheadP99Ms: 10, replayMs: 5, throughputRatio: 0.95 };

export interface TtftLevel {
  concurrency: number;
  answerTokens: number;
  direct: Latency;
  inkstone: Latency;
  /** Through the bare relay (the control), and its overhead over direct; absent without one. */
  relay?: Latency;
  relayOverhead?: { p50: number; p99: number };
  /** Of Inkstone's TTFT, the time until its `start` event: the request was admitted. */
  accepted: Latency;
  /** Inkstone minus direct, at the same percentile. */
  overhead: { p50: number; p99: number };
  /**
   * Where each path's first token spent its time, from clocks in the client and the fake: the
   * request on its way to the model (through Inkstone: its whole request path), the model's
   * own first token, and the token on its way back (through Inkstone: its relay).
   */
  legs: Partial<Record<Path, Legs>> & Record<'direct' | 'inkstone', Legs>;
  /** Per round: each path's p50, to show how steady the numbers are. */
  rounds: { first: Path; directP50: number; inkstoneP50: number; relayP50?: number }[];
  /** Inkstone's event-loop delay while it served this level (worst p99 and max of the rounds). */
  loopDelay: LoopDelay;
  /** CPU per stream, ms: Inkstone's (through it), and the fake's on each path. Load-independent. */
  cpuMsPerStream: { inkstone: number; fakeDirect: number; fakeThrough: number };
  errors: {
    direct: ReturnType<typeof failures>;
    inkstone: ReturnType<typeof failures>;
    relay?: ReturnType<typeof failures>;
  };
  /** The fake queued nothing on either path: the model's own wait is the same for both. */
  modelQueued: number;
  loadAverage: LoadAverage;
  pass: boolean;
}

type Path = 'direct' | 'inkstone' | 'relay';
type Percentiles = { p50: number; p99: number };
export interface Legs {
  toModel: Percentiles;
  model: Percentiles;
  back: Percentiles;
}
type Leg = { toModel: number; model: number; back: number };

/** Each stream's three legs, from the client's clock and the fake's (both as monotonic ms). */
function legsOf(results: readonly StreamResult[], arrivals: Record<string, Arrival>): Leg[] {
  const legs: Leg[] = [];
  for (const r of results) {
    const id = requestId(r.title);
    const at = id ? arrivals[id] : undefined;
    if (!r.ok || !at || at.firstTokenAt === undefined) continue;
    const sent = monotonicMs(r.startedAt);
    const received = monotonicMs(r.firstTokenAt);
    legs.push({
      toModel: at.receivedAt - sent,
      model: at.firstTokenAt - at.receivedAt,
      back: received - at.firstTokenAt,
    });
  }
  return legs;
}

function summarizeLegs(legs: readonly Leg[]): Legs {
  const pick = (key: keyof Leg) => {
    const { p50, p99 } = summarize(legs.map((l) => l[key]));
    return { p50, p99 };
  };
  return { toModel: pick('toModel'), model: pick('model'), back: pick('back') };
}

/**
 * `concurrency` streams in flight for `perWorker` streams each. The workers start spread over
 * one generation's length (`staggerMs`): started together, streams of one length would stay in
 * lockstep and every round would be a burst of `concurrency` requests at the same instant.
 */
async function phase(world: World, path: Path, concurrency: number, perWorker: number, staggerMs: number) {
  const target = path === 'direct' ? world.direct : path === 'relay' ? world.relay! : world.through;
  await world.fake.call({ type: 'reset' });
  await world.inkstone.call({ type: 'loopDelay', reset: true });
  const before = await cpuNow(world);
  const results = await closedLoop({
    concurrency,
    perWorker,
    staggerMs,
    run: () => stream(target, freshTitle()),
  });
  const after = await cpuNow(world);
  return {
    results,
    legs: legsOf(results, await world.fake.call<Record<string, Arrival>>({ type: 'arrivals' })),
    loopDelay: await world.inkstone.call<LoopDelay>({ type: 'loopDelay', reset: true }),
    queued: (await fakeStats(world)).maxQueued,
    cpu: { inkstone: after.inkstone - before.inkstone, fake: after.fake - before.fake },
  };
}

/** The paths a level times: the bare relay's only when the world has one. */
const pathsOf = (world: World): Path[] =>
  world.relay ? ['direct', 'inkstone', 'relay'] : ['direct', 'inkstone'];

/**
 * `jitWarmup` streams on each path, 20 at a time, the fake answering in a few ms: code on
 * every side is optimised before anything is timed. Each path gets the same.
 */
export async function warmUpPaths(world: World, options: Pick<TtftOptions, 'timings' | 'jitWarmup'>) {
  if (options.jitWarmup <= 0) return;
  const concurrency = 20;
  const timings = { ...options.timings, ttftMs: 2, interTokenMs: 2, answerTokens: 2 };
  await setFake(world, timings);
  const perWorker = Math.ceil(options.jitWarmup / concurrency);
  for (const path of pathsOf(world))
    await phase(world, path, concurrency, perWorker, generationMsOf(timings));
}

export async function measureTtft(world: World, options: TtftOptions): Promise<TtftLevel[]> {
  const levels: TtftLevel[] = [];
  await warmUpPaths(world, options);
  for (const { concurrency, samples, answerTokens } of options.levels) {
    await setFake(world, { ...options.timings, answerTokens });
    const generationMs = generationMsOf({ ...options.timings, answerTokens });
    // Connections opened at this level's concurrency, on both sides of Inkstone, before anything counts.
    const warmup = Math.max(1, Math.ceil(options.warmup / concurrency));
    const paths = pathsOf(world);
    for (const path of paths) await phase(world, path, concurrency, warmup, generationMs);
    const perWorker = Math.max(1, Math.ceil(samples / (options.rounds * concurrency)));
    const all: Record<Path, StreamResult[]> = { direct: [], inkstone: [], relay: [] };
    const legs: Record<Path, Leg[]> = { direct: [], inkstone: [], relay: [] };
    const cpu = { inkstone: 0, fakeDirect: 0, fakeThrough: 0 };
    const rounds: TtftLevel['rounds'] = [];
    let modelQueued = 0;
    const loopDelay: LoopDelay = { p50: 0, p99: 0, max: 0 };
    for (let r = 0; r < options.rounds; r++) {
      // Each path first in turn, so that drift in the machine's load falls on all of them.
      const order = paths.map((_, i) => paths[(i + r) % paths.length]!);
      const p50: Record<Path, number> = { direct: NaN, inkstone: NaN, relay: NaN };
      for (const path of order) {
        const {
          results,
          queued,
          cpu: used,
          legs: measured,
          loopDelay: delay,
        } = await phase(world, path, concurrency, perWorker, generationMs);
        modelQueued = Math.max(modelQueued, queued);
        if (path === 'inkstone') {
          loopDelay.p50 = Math.max(loopDelay.p50, delay.p50);
          loopDelay.p99 = Math.max(loopDelay.p99, delay.p99);
          loopDelay.max = Math.max(loopDelay.max, delay.max);
        }
        all[path].push(...results);
        legs[path].push(...measured);
        p50[path] = summarize(results.map((x) => x.ttftMs)).p50;
        if (path === 'inkstone') {
          cpu.inkstone += used.inkstone;
          cpu.fakeThrough += used.fake;
        } else if (path === 'direct') cpu.fakeDirect += used.fake;
      }
      rounds.push({
        first: order[0]!,
        directP50: p50.direct,
        inkstoneP50: p50.inkstone,
        ...(world.relay ? { relayP50: p50.relay } : {}),
      });
    }
    const ttftOf = (path: Path) => summarize(all[path].filter((x) => x.ok).map((x) => x.ttftMs));
    const direct = ttftOf('direct');
    const inkstone = ttftOf('inkstone');
    const accepted = summarize(all.inkstone.filter((x) => x.ok).map((x) => x.acceptedMs));
    const over = (path: Latency) => ({
      p50: round(path.p50 - direct.p50),
      p99: round(path.p99 - direct.p99),
    });
    const overhead = over(inkstone);
    const relay = world.relay ? ttftOf('relay') : undefined;
    const errors = {
      direct: failures(all.direct),
      inkstone: failures(all.inkstone),
      ...(relay ? { relay: failures(all.relay) } : {}),
    };
    const perStream = (ms: number, n: number) => round(ms / Math.max(1, n));
    const level: TtftLevel = {
      concurrency,
      answerTokens,
      direct,
      inkstone,
      ...(relay ? { relay, relayOverhead: over(relay) } : {}),
      accepted,
      overhead,
      legs: {
        direct: summarizeLegs(legs.direct),
        inkstone: summarizeLegs(legs.inkstone),
        ...(relay ? { relay: summarizeLegs(legs.relay) } : {}),
      },
      loopDelay,
      rounds,
      cpuMsPerStream: {
        inkstone: perStream(cpu.inkstone, all.inkstone.length),
        fakeDirect: perStream(cpu.fakeDirect, all.direct.length),
        fakeThrough: perStream(cpu.fakeThrough, all.inkstone.length),
      },
      errors,
      modelQueued,
      loadAverage: loadAverage(),
      pass:
        overhead.p50 < TARGETS.overheadP50Ms &&
        overhead.p99 < TARGETS.overheadP99Ms &&
        errors.direct.count + errors.inkstone.count === 0,
    };
    world.log(
      `  TTFT at ${concurrency} streams: direct p50 ${direct.p50} p99 ${direct.p99}, Inkstone p50 ${inkstone.p50} p99 ${inkstone.p99}${relay ? `, bare relay p50 ${relay.p50} p99 ${relay.p99}` : ''} ms; Inkstone CPU ${level.cpuMsPerStream.inkstone} ms/stream (load ${level.loadAverage.join(' ')})`,
    );
    levels.push(level);
  }
  return levels;
}

export interface CoalescingResult {
  requests: number;
  modelCalls: number;
  complete: number;
  /** Every caller read the whole answer: this many tokens each. */
  tokensEach: number[];
  errors: ReturnType<typeof failures>;
  pass: boolean;
}

export async function measureCoalescing(
  world: World,
  options: { requests: number; timings: FakeTimings },
): Promise<CoalescingResult> {
  await setFake(world, options.timings);
  const title = freshTitle();
  const results = await Promise.all(
    Array.from({ length: options.requests }, () => stream(world.through, title)),
  );
  const { chatRequests } = await fakeStats(world);
  const tokensEach = [...new Set(results.map((r) => r.tokens))];
  const complete = results.filter((r) => r.ok).length;
  world.log(`  coalescing: ${options.requests} identical requests → ${chatRequests} model call(s)`);
  return {
    requests: options.requests,
    modelCalls: chatRequests,
    complete,
    tokensEach,
    errors: failures(results),
    pass:
      chatRequests === 1 &&
      complete === options.requests &&
      tokensEach.length === 1 &&
      tokensEach[0] === options.timings.answerTokens,
  };
}

export interface ReplayResult {
  repeats: number;
  /** The first, uncached answer's time to first token (the model's own TTFT plus Inkstone). */
  missTtftMs: number;
  ttft: Latency;
  /**
   * The floor for the same client on this machine: the fake model server, asked directly, set
   * to answer at once (no time to first token, none between tokens), one at a time.
   */
  floor: Latency;
  allCached: boolean;
  modelCalls: number;
  loopDelay: LoopDelay;
  errors: ReturnType<typeof failures>;
  pass: boolean;
}

/** The same request again and again, one at a time: each is a cache hit replayed as a stream. */
export async function measureReplay(
  world: World,
  options: { repeats: number; rounds: number; timings: FakeTimings },
): Promise<ReplayResult> {
  await setFake(world, options.timings);
  const title = freshTitle();
  const miss = await stream(world.through, title);
  // From here the model is never asked through Inkstone: the fake answers at once, for the floor.
  await setFake(world, { ...options.timings, ttftMs: 0, interTokenMs: 0 });
  const hit = () => stream(world.through, title);
  const direct = () => stream(world.direct, freshTitle());
  // Warm both paths (their first runs compile code the rest reuse).
  await closedLoop({ concurrency: 1, perWorker: 20, run: hit });
  await closedLoop({ concurrency: 1, perWorker: 20, run: direct });
  const { chatRequests: before } = await fakeStats(world);
  await world.inkstone.call({ type: 'loopDelay', reset: true });
  // Rounds, each path first in turn, so that drift in the machine's load falls on both.
  const perRound = Math.max(1, Math.ceil(options.repeats / options.rounds));
  const hits: StreamResult[] = [];
  const floorRuns: StreamResult[] = [];
  for (let r = 0; r < options.rounds; r++) {
    const order = r % 2 === 0 ? [hits, floorRuns] : [floorRuns, hits];
    for (const into of order) {
      const run = into === hits ? hit : direct;
      into.push(...(await closedLoop({ concurrency: 1, perWorker: perRound, run })));
    }
  }
  const loopDelay = await world.inkstone.call<LoopDelay>({ type: 'loopDelay', reset: true });
  // The floor's own requests went to the fake: one each; any more came through Inkstone.
  const { chatRequests: after } = await fakeStats(world);
  const modelCalls = after - before - floorRuns.length;
  const ttft = summarize(hits.filter((x) => x.ok).map((x) => x.ttftMs));
  const floor = summarize(floorRuns.filter((x) => x.ok).map((x) => x.ttftMs));
  const allCached = hits.every((x) => x.cached);
  world.log(
    `  cache replay: TTFT p50 ${ttft.p50} p99 ${ttft.p99} ms over ${hits.length} hits; a server answering at once: p50 ${floor.p50} p99 ${floor.p99} ms`,
  );
  return {
    repeats: hits.length,
    missTtftMs: round(miss.ttftMs),
    ttft,
    floor,
    allCached,
    modelCalls,
    loopDelay,
    errors: failures([...hits, ...floorRuns]),
    pass: miss.ok && allCached && modelCalls === 0 && ttft.p99 < TARGETS.replayMs,
  };
}
