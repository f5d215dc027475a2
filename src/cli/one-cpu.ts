import { spawn } from 'node:child_process';
import { availableParallelism, constants } from 'node:os';

/** V8's flag for a garbage collector that runs on the main thread only. */
export const SINGLE_THREADED_GC = '--single-threaded-gc';

const RELAUNCHED = 'INKSTONE_RELAUNCHED';

/**
 * Whether `serve` should run again under SINGLE_THREADED_GC: the process has one CPU (a 1-vCPU
 * machine, a cpuset, taskset) and its command line chose nothing about it (`--no-single-threaded-gc`
 * keeps V8's default).
 *
 * Why: V8's helper threads (parallel scavenges, concurrent marking) only take turns with the
 * main thread on one CPU, and the scheduler gives them whole slices while requests wait. With
 * 100 streams through the AI pipeline on one pinned CPU (`npm run bench:ai -- --only ttft`),
 * the time-to-first-token overhead's p99 was +31, +36 and +42 ms with V8's default and +8.6
 * and +9.5 ms with the collector on the main thread, whose work comes in small steps between
 * callbacks; the event loop's worst delay 30–90 ms against 21–29 ms.
 */
export function wantsSingleThreadedGc(execArgv: readonly string[], cpus = availableParallelism()): boolean {
  return cpus === 1 && !execArgv.some((flag) => /^--(no-)?single[-_]threaded[-_]gc$/.test(flag));
}

/**
 * Runs this same command line again with SINGLE_THREADED_GC (V8 reads its threading flags only
 * at start, and Node accepts no such flag in NODE_OPTIONS), passing signals on and exiting as
 * the child does. Resolves with the exit code; it never resolves before the child ends.
 */
export function relaunchWithSingleThreadedGc(): Promise<number> {
  const child = spawn(process.execPath, [SINGLE_THREADED_GC, ...process.execArgv, ...process.argv.slice(1)], {
    // The channel only tells the child when this process is gone (see endWithLauncher).
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, [RELAUNCHED]: '1' },
  });
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  for (const signal of signals) process.on(signal, forward);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      for (const name of signals) process.off(name, forward);
      resolve(code ?? 128 + (signal ? constants.signals[signal] : 0));
    });
  });
}

/**
 * In the relaunched server: shut down (as on SIGTERM) when the launcher is gone, even killed
 * with SIGKILL, whose signal nobody could pass on; a server left behind would hold its port.
 */
export function endWithLauncher(): void {
  if (process.env[RELAUNCHED] !== '1' || !process.channel) return;
  process.channel.unref();
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
}
