/**
 * SQLite's WAL checkpoints, off the event loop. better-sqlite3 is synchronous, and SQLite runs
 * an automatic checkpoint inside whichever commit takes the WAL past 1,000 pages: that commit
 * then copies the WAL into the database and waits for two fsyncs, 2–10 ms here, while every
 * request in flight waits with it (the AI bench's cache replay: an insert's p99 1.2 ms, its
 * worst 9.7 ms). Here the main connection only appends to the WAL (synchronous=NORMAL: a write,
 * no fsync), and a worker thread with its own connection checkpoints once the WAL has grown:
 * PASSIVE, so readers and the writer go on while it copies.
 *
 * The worker starts the first time the WAL is large, so a small blog, or a test, never runs
 * one. If it cannot keep up or fails, SQLite's own automatic checkpoint stays as a backstop,
 * at ten times the usual size: the WAL stays bounded whatever happens here.
 */
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type SQLite from 'better-sqlite3';

export interface CheckpointOptions {
  /** How often the WAL's size is looked at (a stat of the -wal file). */
  everyMs?: number;
  /** A checkpoint is asked for once the WAL file is larger than this. */
  walBytes?: number;
  log?: { warn(object: object, message: string): void };
}

export interface CheckpointStats {
  /** Whether the worker thread was ever needed. */
  started: boolean;
  /** Checkpoints the worker completed, and the WAL frames they copied in all. */
  runs: number;
  framesCopied: number;
  failures: number;
}

export interface Checkpoints {
  stats(): CheckpointStats;
  /** Stops the timer and the worker (its connection closed first). */
  close(): Promise<void>;
}

/** SQLite's default automatic checkpoint size, in pages: the size a checkpoint is asked for at. */
const AUTO_PAGES = 1000;
/** The main connection's own automatic checkpoint, kept as a backstop only. */
const BACKSTOP_PAGES = 10 * AUTO_PAGES;
const WORKER_CLOSE_MS = 2000;

// CommonJS, evaluated as the worker's whole program: no file to find in src/ or dist/, with tsx
// or without. better-sqlite3 is loaded from the path the main thread resolved.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.file, { fileMustExist: true });
parentPort.on('message', (message) => {
  if (message === 'close') {
    db.close();
    parentPort.close();
    return;
  }
  try {
    const [row] = db.pragma('wal_checkpoint(PASSIVE)');
    parentPort.postMessage({ ok: true, busy: row.busy, log: row.log, checkpointed: row.checkpointed });
  } catch (error) {
    parentPort.postMessage({ ok: false, error: String(error && error.message) });
  }
});
`;

type Reply = { ok: true; busy: number; log: number; checkpointed: number } | { ok: false; error: string };

export function backgroundCheckpoints(
  sqlite: SQLite.Database,
  file: string,
  options: CheckpointOptions = {},
): Checkpoints {
  const pageSize = sqlite.pragma('page_size', { simple: true }) as number;
  const walBytes = options.walBytes ?? AUTO_PAGES * pageSize;
  sqlite.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);
  // SQLite reuses the WAL file from its start after a checkpoint but keeps its size: without a
  // limit the file stays large and a checkpoint would be asked for every `everyMs`, for good.
  // With one, the writer that restarts the WAL cuts the file back to this size.
  sqlite.pragma(`journal_size_limit = ${walBytes}`);
  const stats: CheckpointStats = { started: false, runs: 0, framesCopied: 0, failures: 0 };
  let worker: Worker | undefined;
  let running = false;
  let closed = false;
  /** The thread itself failed (not one checkpoint): the backstop takes over for good. */
  let broken = false;
  let warned = false;

  const start = (): Worker => {
    const module = createRequire(import.meta.url).resolve('better-sqlite3');
    const thread = new Worker(WORKER_SOURCE, { eval: true, workerData: { module, file } });
    // Between checkpoints the worker waits on its port: it must not keep the process alive.
    thread.unref();
    thread.on('message', (reply: Reply) => {
      running = false;
      if (reply.ok) {
        stats.runs++;
        stats.framesCopied += Math.max(0, reply.checkpointed);
      } else fail(reply.error);
    });
    thread.on('error', (error) => {
      running = false;
      broken = true;
      worker = undefined;
      fail(error.message);
    });
    stats.started = true;
    return thread;
  };

  const fail = (message: string) => {
    stats.failures++;
    // SQLite's backstop keeps the WAL bounded: one line is enough, not one per second.
    if (warned) return;
    warned = true;
    options.log?.warn(
      { err: { message } },
      'background WAL checkpoint failed; SQLite checkpoints on its own at 10,000 pages',
    );
  };

  const walSize = () => {
    try {
      return statSync(`${file}-wal`).size;
    } catch {
      return 0;
    }
  };

  const timer = setInterval(() => {
    if (running || closed || broken || walSize() <= walBytes) return;
    worker ??= start();
    running = true;
    worker.postMessage('checkpoint');
  }, options.everyMs ?? 1000);
  timer.unref();

  return {
    stats: () => ({ ...stats }),
    close: async () => {
      closed = true;
      clearInterval(timer);
      const thread = worker;
      worker = undefined;
      if (!thread) return;
      const exited = new Promise<void>((resolve) => thread.once('exit', () => resolve()));
      thread.postMessage('close');
      const late = setTimeout(() => void thread.terminate(), WORKER_CLOSE_MS);
      await exited;
      clearTimeout(late);
    },
  };
}
