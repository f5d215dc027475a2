import { promisify } from 'node:util';
import { brotliCompress, constants, gzip } from 'node:zlib';

const brotli = promisify(brotliCompress);
const gzipAsync = promisify(gzip);

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
 * brotli copies made once per page in the background.
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
      bytes: identity.length,
    };
    this.put(key, page);
    if (identity.length < (this.options.minCompressBytes ?? 512)) return;
    void this.compress(key, page, common);
  }

  private async compress(key: string, page: HotPage, common: string[]) {
    try {
      const [gz, br] = await Promise.all([
        gzipAsync(page.identity, { level: 9 }),
        brotli(page.identity, {
          params: {
            [constants.BROTLI_PARAM_QUALITY]: 9,
            [constants.BROTLI_PARAM_SIZE_HINT]: page.identity.length,
          },
        }),
      ]);
      // Replaced or dropped meanwhile: the copies belong to a page nobody serves.
      if (this.pages.get(key) !== page) return;
      page.gzip = gz;
      page.br = br;
      page.headers.gzip = [...common, 'content-encoding', 'gzip', 'content-length', String(gz.length)];
      page.headers.br = [...common, 'content-encoding', 'br', 'content-length', String(br.length)];
      page.bytes += gz.length + br.length;
      this.bytes += gz.length + br.length;
      this.evict();
    } catch {
      // The identity copy keeps serving; compression is an optimisation.
    }
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
