import type { FastifyReply, FastifyRequest } from 'fastify';
import { type CachedPage, etagOf, type PageCache, pageTags } from '../cache/page-cache.js';
import type { SharedBody } from '../cache/shared-bodies.js';
import type { CacheConfig } from '../config.js';
import { etagMatches } from './front-door.js';
import { FLASH_COOKIE, SESSION_COOKIE } from './request-context.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** An anonymous GET of this route may be answered from the full-page cache. */
    pageCache?: boolean;
  }
}

/**
 * Who may get a shared page: an anonymous GET with no session, no flash message and no
 * API token. A signed-in reader's page is never stored and never served from the cache.
 */
export function isAnonymousRead(request: FastifyRequest): boolean {
  return (
    (request.method === 'GET' || request.method === 'HEAD') &&
    request.actor === null &&
    request.cookies[SESSION_COOKIE] === undefined &&
    request.cookies[FLASH_COOKIE] === undefined &&
    request.headers.authorization === undefined
  );
}

const matches = (request: FastifyRequest, etag: string) => {
  const given = request.headers['if-none-match'];
  return given !== undefined && etagMatches(given, etag);
};

/** The HTTP side of the page cache: lookup before the handler, store after a render. */
export function createPageResponder(options: {
  cache: PageCache | undefined;
  config: CacheConfig;
  /** Milliseconds until the next scheduled post goes public, or null. */
  untilNextScheduled: () => Promise<number | null>;
}) {
  const { cache, config } = options;
  // The marks taken at lookup: a render an invalidation overtook is not stored.
  const pending = new WeakMap<FastifyRequest, { key: string; mark: number; epoch: number }>();
  const hot = cache?.hot;
  const cacheable = (request: FastifyRequest) =>
    request.routeOptions.config.pageCache === true && isAnonymousRead(request);
  const bodies = cache?.bodies;
  // The bodies' epoch read before the handler read anything, for requests that may keep one.
  const bodyEpochs = new WeakMap<FastifyRequest, number>();

  /** How long a page with these tags may be kept: a list must not outlive the next scheduled post. */
  const ttlMsFor = async (tags: string[]) => {
    let ttlMs = config.pageTtlSeconds * 1000;
    if (ttlMs > 0 && tags.includes(pageTags.lists)) {
      const until = await options.untilNextScheduled();
      if (until !== null) ttlMs = Math.max(0, Math.min(ttlMs, until));
    }
    return ttlMs;
  };

  const cacheControl = (ttlSeconds: number) =>
    ttlSeconds > 0
      ? `public, max-age=0, s-maxage=${ttlSeconds}, stale-while-revalidate=${config.pageStaleSeconds}`
      : 'public, no-cache';
  // Accept-Encoding: the front door sends the hot layer's gzip and brotli copies.
  const publicHeaders = (reply: FastifyReply, etag: string, ttlSeconds: number) =>
    reply
      .header('etag', etag)
      .header('vary', 'Cookie, Accept-Encoding')
      .header('cache-control', cacheControl(ttlSeconds));

  /**
   * Into the hot layer, under the epoch read before the page's content was, with the
   * `s-maxage` the slow path sent (`seconds`), or for a page read back from the cache what is
   * left of its life (a scheduled post may have shortened it).
   */
  const keepHot = (key: string, page: CachedPage, epoch: number, seconds?: number) => {
    const expiresAt = page.expiresAt ?? Date.now() + config.pageTtlSeconds * 1000;
    const left = seconds ?? Math.min(config.pageTtlSeconds, Math.floor((expiresAt - Date.now()) / 1000));
    hot?.store(key, { ...page, expiresAt, cacheControl: cacheControl(left) }, epoch);
  };

  const sendStored = (request: FastifyRequest, reply: FastifyReply, page: CachedPage, state: string) => {
    publicHeaders(reply, page.etag, config.pageTtlSeconds).header('x-page-cache', state);
    if (matches(request, page.etag)) return reply.code(304).send();
    return reply.code(200).type(page.type).send(page.body);
  };

  return {
    /** preHandler: a fresh stored page answers the request and the handler never runs. */
    async lookup(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
      if (!cache || !cacheable(request)) return undefined;
      const key = request.url;
      const mark = cache.mark();
      const epoch = hot?.epoch ?? 0;
      const hit = await cache.get(key);
      if (hit) {
        keepHot(key, hit, epoch);
        return sendStored(request, reply, hit, 'hit');
      }
      pending.set(request, { key, mark, epoch });
      return undefined;
    },

    /**
     * preHandler, for a GET the full-page cache does not answer (a signed-in reader, a flash
     * message): the shared body of this URL, if one is held; else the request may keep one.
     */
    heldBody(request: FastifyRequest): SharedBody | undefined {
      if (!cache || !bodies || request.routeOptions.config.pageCache !== true) return undefined;
      if ((request.method !== 'GET' && request.method !== 'HEAD') || cacheable(request)) return undefined;
      if (!cache.inSync()) return undefined;
      const held = bodies.get(request.url);
      if (held) return held;
      bodyEpochs.set(request, bodies.epoch);
      return undefined;
    },

    /** After a render: keeps a page's shared body for the next signed-in reader of its URL. */
    async keepBody(request: FastifyRequest, meta: unknown, html: string, tags: string[]): Promise<void> {
      const epoch = bodyEpochs.get(request);
      if (!bodies || epoch === undefined) return;
      const ttlMs = await ttlMsFor(tags);
      if (ttlMs > 0) bodies.store(request.url, { meta, html, expiresAt: Date.now() + ttlMs }, epoch);
    },

    /**
     * Sends a rendered body. An anonymous 200 of a cacheable route with tags (what is on the
     * page) and no cookie set gets an ETag and public caching, and is stored; anything else
     * is private and not stored, as is a body already encoded (a signed-in reader's page).
     */
    async send(reply: FastifyReply, body: string | Buffer, type: string, tags: string[] | undefined) {
      const request = reply.request;
      const status = reply.statusCode;
      reply.header('vary', 'Cookie, Accept-Encoding');
      if (
        typeof body !== 'string' ||
        !tags ||
        status !== 200 ||
        !cacheable(request) ||
        reply.hasHeader('set-cookie')
      ) {
        return reply.header('cache-control', 'private, no-store').type(type).send(body);
      }
      // Each tag is checked on every hit (~3 µs each): a list by one author names them once.
      tags = [...new Set(tags)];
      const ttlMs = await ttlMsFor(tags);
      // Encoded to UTF-8 once, for the ETag and for the socket: hashing the string and sending it
      // encoded it twice (~7 µs each for a page of Chinese titles, a two-byte string).
      const bytes = Buffer.from(body);
      const page: CachedPage = { body, etag: etagOf(bytes), type, expiresAt: Date.now() + ttlMs };
      const ttlSeconds = Math.floor(ttlMs / 1000);
      const state = pending.get(request);
      if (cache && state && ttlMs > 0) {
        // A render a write overtook is kept in neither layer.
        const kept = await cache.set(state.key, page, { ttlMs, tags, mark: state.mark });
        if (kept) keepHot(state.key, page, state.epoch, ttlSeconds);
      }
      publicHeaders(reply, page.etag, ttlSeconds).header('x-page-cache', cache ? 'miss' : 'off');
      if (matches(request, page.etag)) return reply.code(304).send();
      return reply.type(type).send(bytes);
    },
  };
}

export type PageResponder = ReturnType<typeof createPageResponder>;
