// The live line on stderr during a run: requests done, the rate over the last second, errors.
// On a terminal it rewrites one line four times a second; into a file or a pipe (CI logs) it
// prints a plain line once a second instead, so the log stays readable.

export interface ProgressSource {
  requests: number;
  errors: number;
}

export interface Progress {
  /** What the line is about now ("load", "concurrency 50 · home"). */
  phase(text: string): void;
  stop(): void;
}

export function startProgress(
  source: () => ProgressSource,
  options: { stream?: NodeJS.WriteStream; totalS?: number } = {},
): Progress {
  const stream = options.stream ?? process.stderr;
  const tty = stream.isTTY === true;
  const started = performance.now();
  let phase = '';
  let last = { at: started, requests: 0 };
  let rate = 0;

  const line = () => {
    const now = performance.now();
    const { requests, errors } = source();
    const seconds = (now - last.at) / 1000;
    if (seconds >= 0.9) {
      rate = (requests - last.requests) / seconds;
      last = { at: now, requests };
    }
    const elapsed = (now - started) / 1000;
    const clock = options.totalS ? `${elapsed.toFixed(0)}s/${options.totalS}s` : `${elapsed.toFixed(0)}s`;
    return `${phase ? `${phase}  ` : ''}${clock}  ${requests} requests  ${rate.toFixed(1)} req/s  ${errors} errors`;
  };

  const timer = setInterval(
    () => {
      if (tty) stream.write(`\r\x1b[2K${line()}`);
      else stream.write(`${line()}\n`);
    },
    tty ? 250 : 1000,
  );
  timer.unref();

  return {
    phase(text) {
      phase = text;
    },
    stop() {
      clearInterval(timer);
      stream.write(tty ? `\r\x1b[2K${line()}\n` : `${line()}\n`);
    },
  };
}

/**
 * Ctrl-C: the first SIGINT aborts the run (requests in flight are dropped, what finished is
 * kept and written with interrupted: true); a second one exits at once, as a user expects.
 */
export function onInterrupt(controller: AbortController): { interrupted: () => boolean; dispose(): void } {
  let interrupted = false;
  const handler = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    process.stderr.write(
      '\nInterrupted: stopping and writing what was measured (Ctrl-C again to quit now).\n',
    );
    controller.abort();
  };
  process.on('SIGINT', handler);
  return {
    interrupted: () => interrupted,
    dispose: () => process.off('SIGINT', handler),
  };
}
