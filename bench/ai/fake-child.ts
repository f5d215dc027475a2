// Child process: the fake model server (a SIMULATOR, test/fakes/model-server.ts) on its own,
// so its CPU time per streamed token is not spent in the process being measured.
import { startFakeModelServer } from '../../test/fakes/model-server.js';
import {
  type Arrival,
  cpuMs,
  type FakeCommand,
  type FakeStatsSummary,
  type FakeTimings,
  KEEP_ALIVE_MS,
  monotonicMs,
  serve,
} from './ipc.js';
import { requestId } from './world.js';

/** An answer of exactly `n` tokens whatever the prompt: every request streams the same amount. */
const answerOf = (n: number) => () => ['Bench', ...Array.from({ length: n - 1 }, () => ' word')].join('');

// The parent picks the port, so Inkstone can be configured with it while this starts.
const fake = await startFakeModelServer({
  port: Number(process.env.FAKE_PORT ?? 0),
  keepAliveTimeoutMs: KEEP_ALIVE_MS,
});

function apply(timings: FakeTimings): void {
  fake.set({
    ttftMs: timings.ttftMs,
    interTokenMs: timings.interTokenMs,
    parallel: timings.parallel,
    maxQueue: timings.maxQueue,
    reply: answerOf(timings.answerTokens),
  });
}

function summary(): FakeStatsSummary {
  const { stats } = fake;
  const outcomes: Record<string, number> = {};
  for (const record of stats.requests) outcomes[record.outcome] = (outcomes[record.outcome] ?? 0) + 1;
  return {
    chatRequests: stats.requests.length,
    maxInFlight: stats.maxInFlight,
    maxQueued: stats.maxQueued,
    busyRejections: stats.busyRejections,
    outcomes,
  };
}

/** By the request id in the prompt (the bench's titles carry one). */
function arrivals(): Record<string, Arrival> {
  const epoch = (t: number | undefined) => (t === undefined ? undefined : monotonicMs(t));
  const out: Record<string, Arrival> = {};
  for (const record of fake.stats.requests) {
    const id = requestId(JSON.stringify(record.body));
    if (id) out[id] = { receivedAt: epoch(record.receivedAt)!, firstTokenAt: epoch(record.firstTokenAt) };
  }
  return out;
}

serve<FakeCommand>(async (command) => {
  switch (command.type) {
    case 'set':
      return apply(command.settings);
    case 'stats':
      return summary();
    case 'cpu':
      return cpuMs();
    case 'arrivals':
      return arrivals();
    case 'reset':
      // The per-request records (bodies included) would otherwise grow for the whole run.
      return fake.resetStats();
    case 'close':
      await fake.close();
      setImmediate(() => process.exit(0));
      return undefined;
  }
});
process.send?.({ type: 'ready', url: fake.url });
