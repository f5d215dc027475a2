import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';

export interface PullOptions {
  /** A folder (the file keeps the URL's name) or a path ending in `.gguf`. */
  to?: string;
  /** Where the progress bar goes. */
  progress?: Writable & { isTTY?: boolean };
  signal?: AbortSignal;
}

export interface PullResult {
  path: string;
  bytes: number;
  seconds: number;
}

const GGUF_MAGIC = Buffer.from('GGUF', 'ascii');
/** Redraws of the bar per second on a terminal; elsewhere (a CI log) one line per 10 %. */
const REDRAWS_PER_SECOND = 8;

/** Downloads a GGUF file to a temporary name beside its target, then renames it into place. */
export async function pullModel(url: string, options: PullOptions = {}): Promise<PullResult> {
  const source = parseUrl(url);
  const path = targetPath(source, options.to ?? 'data/models');
  const progress = options.progress ?? process.stderr;
  await mkdir(dirname(path), { recursive: true });

  const response = await fetch(source, { redirect: 'follow', signal: options.signal }).catch(
    (error: Error) => {
      // fetch says only "fetch failed"; the reason (refused, DNS, TLS) is its cause.
      const reason = error.cause instanceof Error ? error.cause.message : error.message;
      throw new Error(`Cannot reach ${source.origin}: ${reason}`, { cause: error });
    },
  );
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new Error(
      `Download failed: ${source.href} answered ${response.status} ${response.statusText}`.trim(),
    );
  }
  const total = Number(response.headers.get('content-length')) || undefined;
  const bar = progressBar(progress, total);
  const partial = `${path}.part-${process.pid}`;
  let bytes = 0;
  let head = Buffer.alloc(0);
  const started = performance.now();
  const count = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      // Check the magic as soon as 4 bytes are in: an HTML error page or a login wall
      // is refused at once instead of after the whole download.
      if (head.length < GGUF_MAGIC.length) {
        head = Buffer.concat([head, chunk]).subarray(0, GGUF_MAGIC.length);
        if (head.length === GGUF_MAGIC.length && !head.equals(GGUF_MAGIC)) {
          return done(
            new Error(
              `${source.href} is not a GGUF file (it starts with ${JSON.stringify(head.toString('latin1'))})`,
            ),
          );
        }
      }
      bar.update(bytes, performance.now() - started);
      done(null, chunk);
    },
  });
  try {
    // The DOM lib (tsconfig) types fetch's body as the DOM stream; at run time it is Node's.
    const body = Readable.fromWeb(response.body as NodeReadableStream<Uint8Array>);
    await pipeline(body, count, createWriteStream(partial), {
      signal: options.signal,
    });
    if (head.length < GGUF_MAGIC.length)
      throw new Error(`${source.href} is not a GGUF file (${bytes} bytes)`);
    if (total !== undefined && bytes !== total) {
      throw new Error(`The download stopped at ${formatBytes(bytes)} of ${formatBytes(total)}`);
    }
    await rename(partial, path);
  } catch (error) {
    bar.end();
    await rm(partial, { force: true });
    throw error;
  }
  const seconds = (performance.now() - started) / 1000;
  bar.update(bytes, seconds * 1000, true);
  bar.end();
  return { path, bytes, seconds };
}

function parseUrl(url: string): URL {
  let source: URL;
  try {
    source = new URL(url);
  } catch {
    throw new Error(`Not a URL: ${url}`);
  }
  if (source.protocol !== 'http:' && source.protocol !== 'https:') {
    throw new Error(`Only http and https URLs can be pulled, not ${source.protocol}`);
  }
  return source;
}

function targetPath(source: URL, to: string): string {
  if (to.toLowerCase().endsWith('.gguf')) return to;
  const name = basename(decodeURIComponent(source.pathname));
  if (!name || name === '/') throw new Error(`${source.href} names no file: give --to path/to/model.gguf`);
  return join(to, name.toLowerCase().endsWith('.gguf') ? name : `${name}.gguf`);
}

function progressBar(out: Writable & { isTTY?: boolean }, total: number | undefined) {
  const width = 30;
  let lastDraw = -Infinity;
  let lastTenth = -1;
  let drawn = false;
  return {
    update(bytes: number, elapsedMs: number, final = false) {
      const speed = `${formatBytes(elapsedMs > 0 ? (bytes * 1000) / elapsedMs : 0)}/s`;
      const share = total ? Math.min(1, bytes / total) : undefined;
      let line: string;
      if (share === undefined) line = `${formatBytes(bytes)}  ${speed}`;
      else {
        const filled = Math.round(share * width);
        const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
        line = `${bar} ${(share * 100).toFixed(1).padStart(5)}%  ${formatBytes(bytes)} / ${formatBytes(total!)}  ${speed}`;
      }
      if (out.isTTY) {
        if (!final && elapsedMs - lastDraw < 1000 / REDRAWS_PER_SECOND) return;
        lastDraw = elapsedMs;
        out.write(`\r${line}\x1b[K`);
        drawn = true;
      } else {
        const tenth = share === undefined ? -1 : Math.floor(share * 10);
        if (!final && (share === undefined || tenth === lastTenth)) return;
        lastTenth = tenth;
        out.write(`${line}\n`);
      }
    },
    end() {
      if (drawn) out.write('\n');
      drawn = false;
    },
  };
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}
