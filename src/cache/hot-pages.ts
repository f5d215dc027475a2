import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

export type Coding = 'br' | 'gzip';

/** One stored page, ready to write: a hit renders nothing, compresses nothing, builds no headers. */
export interface HotPage {
  etag: string;
  /** Absolute expiry, ms since the epoch (a scheduled post caps it). */
  expiresAt: number;
  /** The epoch the page was stored under: any invalidation since makes it unusable. */
  epoch: number;
  identity: Buffer;
  gzip?: Buffer;
  br?: Buffer;
  /** Raw header pairs for writeHead, per encoding; the 304 answer's too. */
  headers: { identity: string[]; gzip?: string[]; br?: string[]; notModified: string[] };
  /** The headers every variant shares, for the compressed ones made later. */
  common: string[];
  bytes: number;
}

export interface HotPageInput {
  body: string;
  etag: string;
  type: string;
  cacheControl: string;
  expiresAt: number;
}

/**
 * The page cache's first layer: rendered anonymous pages in a plain Map, read synchronously
 * by the front door (src/http/front-door.ts) before Fastify sees the request, with gzip and
 * brotli copies made once per page, when a client first asks for one.
 *
 * Correctness is one counter: every invalidation (a write on this instance, or a tag
 * invalidation arriving on the cache bus from another) moves the epoch and drops every
 * page. A page is stored only under the epoch read before its content was read (from the
 * layers below or the database), so a render or a lookup that an invalidation overtook is
 * never kept. Dropping everything on any write is coarse, but writes are rare next to reads
 * and a dropped page costs one trip to bentocache's L1.
 */
export class HotPages {
  private readonly pages = new Map<string, HotPage>();
  private bytes = 0;
  private current = 0;

  constructor(
    private readonly options: {
      maxBytes: number;
      /** Copies smaller than this are not worth a compressed variant. */
      minCompressBytes?: number;
      now?: () => number;
    },
  ) {}

  get epoch(): number {
    return this.current;
  }

  /** Everything goes; pages stored under an older epoch are refused from now on. */
  invalidateAll(): void {
    this.current++;
    this.pages.clear();
    this.bytes = 0;
  }

  /** A usable page for the key, or undefined (expired ones are dropped on the way). */
  get(key: string): HotPage | undefined {
    const page = this.pages.get(key);
    if (page === undefined) return undefined;
    if (page.expiresAt <= (this.options.now ?? Date.now)()) {
      this.remove(key, page);
      return undefined;
    }
    return page;
  }

  /**
   * Keeps a page read or rendered under `epoch`. The identity copy is usable at once; the
   * compressed copies join it when zlib is done (on its thread pool, not this one).
   */
  store(key: string, input: HotPageInput, epoch: number): void {
    if (epoch !== this.current || input.expiresAt <= (this.options.now ?? Date.now)()) return;
    const identity = Buffer.from(input.body);
    if (identity.length > this.options.maxBytes / 8) return;
    const common = [
      'content-type',
      input.type,
      'etag',
      input.etag,
      'vary',
      'Cookie, Accept-Encoding',
      'cache-control',
      input.cacheControl,
      'x-page-cache',
      'hit',
    ];
    const page: HotPage = {
      etag: input.etag,
      expiresAt: input.expiresAt,
      epoch,
      identity,
      headers: {
        identity: [...common, 'content-length', String(identity.length)],
        notModified: common.slice(2),
      },
      common,
      bytes: identity.length,
    };
    this.put(key, page);
  }

  /**
   * The page in `coding`, compressed now if this is the first request for it, or undefined
   * when it is too small to gain. Synchronously and at brotli quality 5 (~0.2 ms for a 7 KB
   * page, gzip ~0.06 ms): quality 9 took ~40 ms and a window of megabytes per call, and on
   * zlib's thread pool, redone after every invalidation, it grew the process by ~5 MB a
   * second in the soak (glibc's per-thread arenas); made on demand, a page nobody asks
   * compressed costs nothing.
   */
  encoded(key: string, page: HotPage, coding: Coding): { body: Buffer; headers: string[] } | undefined {
    const made = page[coding];
    const headers = page.headers[coding];
    if (made !== undefined && headers !== undefined) return { body: made, headers };
    const size = page.identity.length;
    if (size < (this.options.minCompressBytes ?? 512)) return undefined;
    const body =
      coding === 'br'
        ? brotliCompressSync(page.identity, {
            params: {
              [constants.BROTLI_PARAM_QUALITY]: 5,
              [constants.BROTLI_PARAM_SIZE_HINT]: size,
              // A window no larger than the page: brotli's default reserves 4 MB.
              [constants.BROTLI_PARAM_LGWIN]: Math.min(24, Math.max(10, Math.ceil(Math.log2(size)))),
            },
          })
        : gzipSync(page.identity, { level: 6 });
    const built = [...page.common, 'content-encoding', coding, 'content-length', String(body.length)];
    page[coding] = body;
    page.headers[coding] = built;
    page.bytes += body.length;
    // Dropped or replaced meanwhile (it cannot be, synchronously, but a caller may hold an old page).
    if (this.pages.get(key) === page) {
      this.bytes += body.length;
      this.evict();
    }
    return { body, headers: built };
  }

  private put(key: string, page: HotPage) {
    const old = this.pages.get(key);
    if (old) this.remove(key, old);
    this.pages.set(key, page);
    this.bytes += page.bytes;
    this.evict();
  }

  /** Oldest stored first: a Map iterates in insertion order. */
  private evict() {
    for (const [key, page] of this.pages) {
      if (this.bytes <= this.options.maxBytes) return;
      this.remove(key, page);
    }
  }

  private remove(key: string, page: HotPage) {
    this.pages.delete(key);
    this.bytes -= page.bytes;
  }

  stats() {
    return { pages: this.pages.size, bytes: this.bytes, epoch: this.current };
  }
}
