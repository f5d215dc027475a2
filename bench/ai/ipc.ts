// The messages between the bench (parent) and its two child processes. Requests carry an id
// and get exactly one reply with the same id; each child first sends one `ready` message.
import type { Server } from 'node:http';

export type FakeCommand =
  | { type: 'set'; settings: FakeTimings }
  | { type: 'stats' }
  | { type: 'reset' }
  | { type: 'cpu' }
  /** When each request since the last reset reached the fake and when it sent its first token. */
  | { type: 'arrivals' }
  | { type: 'close' };

/**
 * This process's performance.now() as ms on the machine's monotonic clock (process.hrtime,
 * CLOCK_MONOTONIC on Linux, one clock for every process). Epoch ms (timeOrigin + now) are not
 * comparable to the tenth of a millisecond: each process fixes its timeOrigin at start, and the
 * load client's and the fake's disagreed enough to make a 0.1 ms leg negative.
 */
const MONOTONIC_OFFSET = Number(process.hrtime.bigint()) / 1e6 - performance.now();
export const monotonicMs = (performanceMs: number) => MONOTONIC_OFFSET + performanceMs;

/** Monotonic ms (monotonicMs), comparable between processes on one machine. */
export interface Arrival {
  receivedAt: number;
  firstTokenAt: number | undefined;
}

/** The fake model server's fixed timings for one scenario. */
export interface FakeTimings {
  ttftMs: number;
  interTokenMs: number;
  /** Words in every answer (the reply no longer echoes the prompt, so answers have one length). */
  answerTokens: number;
  /** The server's parallel slots (OLLAMA_NUM_PARALLEL); more requests wait in its queue. */
  parallel: number;
  maxQueue: number;
}

/**
 * How long every server and client of the AI bench keeps an idle connection. The TTFT levels
 * measure their paths in turns, ~15 s each at 100 streams; with Node's default of 5 s every
 * connection was closed between a path's turns, and each turn began by opening 100 at once,
 * which a Node server accepts one per event-loop turn, so the first answer of each stream
 * waited for that (the 100-stream p99 did not move when it stopped: README, AI benchmark).
 */
export const KEEP_ALIVE_MS = 120_000;

/** How long one answer takes the fake to stream, first token to last. */
export const generationMsOf = (t: Pick<FakeTimings, 'ttftMs' | 'interTokenMs' | 'answerTokens'>) =>
  t.ttftMs + (t.answerTokens - 1) * t.interTokenMs;

export interface FakeStatsSummary {
  chatRequests: number;
  maxInFlight: number;
  maxQueued: number;
  busyRejections: number;
  outcomes: Record<string, number>;
}

export interface MemorySample {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

export interface MemoryReport {
  now: MemorySample;
  /** Highest RSS and heap seen by the child's sampler since the last `markMemory`. */
  peakRss: number;
  peakHeapUsed: number;
}

/** Inkstone's event-loop delay, ms: how long a token or a request could wait behind other work. */
export interface LoopDelay {
  p50: number;
  p99: number;
  max: number;
}

export type InkstoneCommand =
  | { type: 'markMemory'; gc: boolean }
  | { type: 'memory'; gc: boolean }
  | { type: 'cpu' }
  | { type: 'loopDelay'; reset: boolean }
  /** The monotonic clock V8's profiler stamps its samples with, µs: brackets a window of a profile. */
  | { type: 'clock' }
  | { type: 'close' };

/** process.cpuUsage() of the child, user + system, in ms since it started. */
export const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

/** The bench author's password (username `bench`): the page bench signs in with it. */
export const BENCH_PASSWORD = 'a long bench password';

export type Ready = { type: 'ready'; url: string; token?: string; gc?: boolean };

export type Command = FakeCommand | InkstoneCommand;

export interface Request<C extends Command = Command> {
  id: number;
  command: C;
}

export type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

/** Answers the parent's requests in a child process with `handle`. */
export function serve<C extends Command>(handle: (command: C) => Promise<unknown> | unknown): void {
  process.on('message', (message: Request<C>) => {
    void (async () => {
      let reply: Reply;
      try {
        reply = { id: message.id, ok: true, result: await handle(message.command) };
      } catch (error) {
        reply = { id: message.id, ok: false, error: String((error as Error).stack ?? error) };
      }
      process.send?.(reply);
    })();
  });
  // The parent went away (a crash, a second Ctrl-C): nothing is left to serve.
  process.on('disconnect', () => process.exit(0));
  // Ctrl-C reaches the whole process group; the bench decides when its children stop (on the
  // first, it finishes the target under way, writes what it measured and closes them).
  process.on('SIGINT', () => {});
}

/**
 * A bare server as a bench child (the bare page server, the relay): listens on a free port,
 * answers `cpu` and `close` as the Inkstone child does, and tells the parent it is ready.
 */
export async function serveBare(
  server: Server,
  name: string,
  close: () => Promise<void> = async () => {},
): Promise<void> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('not on a TCP port');
  serve<InkstoneCommand>(async (command) => {
    switch (command.type) {
      case 'cpu':
        return cpuMs();
      case 'close':
        server.closeAllConnections();
        server.close();
        await close();
        setImmediate(() => process.exit(0));
        return undefined;
      default:
        throw new Error(`${name} does not answer ${command.type}`);
    }
  });
  process.send?.({ type: 'ready', url: `http://127.0.0.1:${address.port}` } satisfies Ready);
}
