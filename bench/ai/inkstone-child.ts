// Child process: one Inkstone, built and configured as `inkstone serve` would be (from the
// environment the parent passes), listening on a free port, with an author and an API token
// for the load client. It reports its own memory, which only the process itself can see.
//
// Inkstone itself comes from dist/, compiled as `npm ci` compiles it (the parent builds it
// first: bench/build.ts); only this file runs through tsx, which leaves plain .js alone.
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import {
  BENCH_PASSWORD,
  cpuMs,
  type InkstoneCommand,
  type LoopDelay,
  type MemoryReport,
  type MemorySample,
  serve,
} from './ipc.js';
import { SOURCE_MAPS_FILE, saveSourceMaps } from '../profile/source-maps.js';
import { DIST } from '../build.js';
import type * as App from '../../src/app.js';
import type * as Config from '../../src/config.js';
import type * as NextTick from '../../src/next-tick.js';
import type * as Password from '../../src/modules/users/password.js';
import type * as Users from '../../src/modules/users/service.js';

/** A module of dist/, typed as its source in src/. */
const compiled = <T>(path: string) => import(pathToFileURL(join(DIST, path)).href) as Promise<T>;
// As `inkstone serve` does, before anything queues a tick (src/next-tick.ts says why).
(await compiled<typeof NextTick>('next-tick.js')).keepNextTickFast();
const { buildApp } = await compiled<typeof App>('app.js');
const { loadConfig } = await compiled<typeof Config>('config.js');
const { scryptHasher } = await compiled<typeof Password>('modules/users/password.js');
const { toActor } = await compiled<typeof Users>('modules/users/service.js');

const config = loadConfig(process.env);
// The bench's author signs in with an API token, never a password: hashing its password at
// scrypt's production cost would only slow the start (by a lot on a busy machine).
const app = await buildApp({ config, overrides: { passwordHasher: scryptHasher(2 ** 10) } });
// As src/server.ts does: the same socket timeouts as a deployment.
app.server.requestTimeout = config.http.requestTimeoutMs;
app.server.headersTimeout = config.http.headersTimeoutMs;
app.server.keepAliveTimeout = config.http.keepAliveTimeoutMs;
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
if (address === null || typeof address === 'string') throw new Error('Inkstone is not on a TCP port');

// Instances sharing one database share the author: whichever starts second finds it.
const { users } = app.services;
const user =
  (await users.findByLogin('bench')) ??
  (await users
    .create({ username: 'bench', email: 'bench@example.com', password: BENCH_PASSWORD }, 'author')
    .catch(async (error: unknown) => {
      const made = await users.findByLogin('bench');
      if (!made) throw error;
      return made;
    }));
const { token } = await app.services.auth.createToken(toActor(user), 'bench');

const gc = (globalThis as { gc?: () => void }).gc;
const sample = (): MemorySample => {
  const { rss, heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage();
  return { rss, heapUsed, heapTotal, external, arrayBuffers };
};
let peakRss = 0;
let peakHeapUsed = 0;
// How long a ready callback (a token to relay, a request to admit) can wait behind other work:
// a 10 ms timer's lateness, a cost of microseconds a tick.
const loop = monitorEventLoopDelay({ resolution: 10 });
loop.enable();
let sampler: NodeJS.Timeout | undefined;
// Started by the first markMemory, so that the scenarios before it run without this timer.
function watch(): void {
  if (sampler) return;
  // Every 20 ms: a peak between two samples is missed, which at this rate is a few MB at most.
  sampler = setInterval(() => {
    const now = sample();
    peakRss = Math.max(peakRss, now.rss);
    peakHeapUsed = Math.max(peakHeapUsed, now.heapUsed);
  }, 20).unref();
}

function report(collect: boolean): MemoryReport {
  if (collect) gc?.();
  const now = sample();
  peakRss = Math.max(peakRss, now.rss);
  peakHeapUsed = Math.max(peakHeapUsed, now.heapUsed);
  return { now, peakRss, peakHeapUsed };
}

/** The event loop's delays since the last reset, ms (beyond the timer's 10 ms period). */
function loopDelay(reset: boolean): LoopDelay {
  // The histogram holds whole intervals between ticks: the period plus the lateness.
  const ms = (ns: number) => Math.max(0, Math.round((ns - 10e6) / 1e4) / 100);
  const delay = { p50: ms(loop.percentile(50)), p99: ms(loop.percentile(99)), max: ms(loop.max) };
  if (reset) loop.reset();
  return delay;
}

serve<InkstoneCommand>(async (command) => {
  switch (command.type) {
    case 'markMemory': {
      watch();
      const before = report(command.gc);
      peakRss = before.now.rss;
      peakHeapUsed = before.now.heapUsed;
      return { ...before, peakRss, peakHeapUsed };
    }
    case 'loopDelay':
      return loopDelay(command.reset);
    case 'memory':
      return report(command.gc);
    case 'cpu':
      return cpuMs();
    case 'clock':
      return Number(process.hrtime.bigint() / 1000n);
    case 'close':
      await app.close();
      // npm run profile: the source maps to put the profile's positions back on the TypeScript.
      if (process.env[SOURCE_MAPS_FILE]) saveSourceMaps(DIST, process.env[SOURCE_MAPS_FILE]);
      // exit() rather than waiting for the loop to drain: --cpu-prof writes its file on exit.
      setImmediate(() => process.exit(0));
      return undefined;
  }
});
process.send?.({ type: 'ready', url: `http://127.0.0.1:${address.port}`, token, gc: gc !== undefined });
