// Two Inkstone processes on one Redis and one PostgreSQL, as behind a load balancer: the
// load client alternates between them. Throughput at the model's capacity, one instance vs
// both; and identical concurrent requests split across both → one model call.
import { stream, type Target } from './client.js';
import type { InstancesOptions, ThroughputOptions } from './options.js';
import { capacityWindow } from './load.js';
import { generationMsOf } from './ipc.js';
import { type LoadAverage, loadAverage, round } from '../../src/bench/stats.js';
import { failures, fakeStats, freshTitle, setFake, type World } from './world.js';

export interface InstancesRound {
  path: 'one' | 'two';
  completed: number;
  perSecond: number;
  modelMaxInFlight: number;
  modelMaxQueued: number;
  errors: ReturnType<typeof failures>;
}

export interface InstancesResult {
  database: string;
  throughput: {
    slots: number;
    clients: number;
    windowMs: number;
    capacityPerSecond: number;
    /** Every request to instance A. */
    onePerSecond: number;
    /** Requests alternating between A and B. */
    twoPerSecond: number;
    /** Both ÷ one. */
    ratio: number;
    rounds: InstancesRound[];
  };
  coalescing: {
    requests: number;
    /** Requests sent to A and to B. */
    split: [number, number];
    modelCalls: number;
    complete: number;
    tokensEach: number[];
    errors: ReturnType<typeof failures>;
  };
  loadAverage: LoadAverage;
  pass: boolean;
}

export async function measureInstances(
  world: Pick<World, 'fake' | 'log'>,
  /** The editor door of each instance, with the alias whose provider has the model's slots. */
  [a, b]: [Target, Target],
  options: InstancesOptions,
  throughput: ThroughputOptions,
  database: string,
): Promise<InstancesResult> {
  const { slots, clients } = throughput;
  const windows = { ...throughput, warmupMs: options.warmupMs, windowMs: options.windowMs };
  await setFake(world, { ...throughput.timings, parallel: slots });
  // Both just started: their first requests open connections (Redis, PostgreSQL, the model)
  // and compile code. That is start-up, not throughput.
  await Promise.all(Array.from({ length: clients * 2 }, (_, i) => stream(i % 2 === 0 ? a : b, freshTitle())));
  const rounds: InstancesRound[] = [];
  for (let r = 0; r < options.rounds; r++) {
    const order = r % 2 === 0 ? (['one', 'two'] as const) : (['two', 'one'] as const);
    for (const path of order) {
      let sent = 0;
      const window = await capacityWindow(world, windows, () => (path === 'two' && sent++ % 2 === 1 ? b : a));
      const { results, ...counts } = window;
      rounds.push({ path, ...counts, errors: failures(results) });
      world.log(
        `  ${path === 'one' ? 'one instance' : 'two instances'}: ${window.completed} generations in ${options.windowMs} ms`,
      );
    }
  }
  const total = (path: InstancesRound['path']) =>
    rounds.filter((x) => x.path === path).reduce((sum, x) => sum + x.completed, 0);
  const seconds = (options.rounds * options.windowMs) / 1000;

  await setFake(world, options.coalescing.timings);
  const title = freshTitle();
  const { requests } = options.coalescing;
  const results = await Promise.all(
    Array.from({ length: requests }, (_, i) => stream(i % 2 === 0 ? a : b, title)),
  );
  const { chatRequests } = await fakeStats(world);
  const tokensEach = [...new Set(results.filter((x) => x.ok).map((x) => x.tokens))];
  const complete = results.filter((x) => x.ok).length;
  world.log(`  two instances: ${requests} identical requests → ${chatRequests} model call(s)`);

  const ratio = round(total('two') / total('one'), 3);
  return {
    database,
    throughput: {
      slots,
      clients,
      windowMs: options.windowMs,
      capacityPerSecond: round(slots / (generationMsOf(throughput.timings) / 1000), 2),
      onePerSecond: round(total('one') / seconds, 2),
      twoPerSecond: round(total('two') / seconds, 2),
      ratio,
      rounds,
    },
    coalescing: {
      requests,
      split: [Math.ceil(requests / 2), Math.floor(requests / 2)],
      modelCalls: chatRequests,
      complete,
      tokensEach,
      errors: failures(results),
    },
    loadAverage: loadAverage(),
    pass:
      chatRequests === 1 &&
      complete === requests &&
      tokensEach.length === 1 &&
      tokensEach[0] === options.coalescing.timings.answerTokens &&
      rounds.every((x) => x.errors.count === 0),
  };
}
