import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HotPages } from '../cache/hot-pages.js';
import type { FrontDoorHit } from '../metrics/http.js';
import { requestIdFrom } from './logging.js';
import { FLASH_COOKIE, SESSION_COOKIE } from './request-context.js';

const SESSION = `${SESSION_COOKIE}=`;
const FLASH = `${FLASH_COOKIE}=`;

/** True when the If-None-Match list names the etag (weak or strong, as Fastify's path does). */
export function etagMatches(given: string, etag: string): boolean {
  if (given === etag) return true;
  return given.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}

/** Whether Accept-Encoding allows the coding: named (or `*`) and not with q=0. */
export function acceptsCoding(header: string, coding: string): boolean {
  if (!header.includes(coding) && !header.includes('*')) return false;
  let wildcard: boolean | undefined;
  for (const part of header.split(',')) {
    const [name = '', ...params] = part.split(';');
    const token = name.trim().toLowerCase();
    if (token !== coding && token !== '*') continue;
    const q = params.map((x) => x.trim()).find((x) => x.startsWith('q='));
    const allowed = q === undefined || Number(q.slice(2)) > 0;
    if (token === coding) return allowed;
    wildcard = allowed;
  }
  return wildcard ?? false;
}

/**
 * Answers a request from the hot page store before Fastify sees it, or returns false.
 *
 * Only what the slow path would have answered from the page cache gets here: the store holds
 * nothing but pages the page responder stored for anonymous readers of cacheable routes, so
 * the route, validation and permission checks already ran for exactly this URL. What is left
 * to check per request is who asks: a session or flash cookie or an Authorization header
 * means a reader with their own page (a cookie whose text merely contains the name is sent
 * down the slow path too, which only costs time). The rest is what Fastify would send: the
 * request id, the ETag and a 304, and the encoding the client accepts.
 *
 * `extra`: header pairs every response of this process carries (a cluster worker's
 * x-inkstone-worker), written in the same array: a header set on the response before
 * writeHead would send every header through Node's setHeader path instead.
 *
 * The array a hit writes is made once per stored header list (the store never changes one):
 * its pairs, the request id's slot and `extra`. Only the id is written per request, which is
 * safe because writeHead reads the array synchronously and keeps none of it; a hit allocates
 * no array.
 */
export function createFrontDoor(
  store: () => HotPages | undefined,
  counted?: FrontDoorHit,
  extra: readonly string[] = [],
) {
  const heads = new WeakMap<readonly string[], string[]>();
  const head = (stored: readonly string[], id: string): string[] => {
    let full = heads.get(stored);
    if (full === undefined) {
      full = [...stored, 'x-request-id', '', ...extra];
      heads.set(stored, full);
    }
    full[stored.length + 1] = id;
    return full;
  };

  return function serve(request: IncomingMessage, response: ServerResponse): boolean {
    const method = request.method;
    if (method !== 'GET' && method !== 'HEAD') return false;
    const pages = store();
    if (pages === undefined) return false;
    const url = request.url ?? '';
    const page = pages.get(url);
    if (page === undefined) return false;
    const headers = request.headers;
    if (headers.authorization !== undefined) return false;
    const cookie = headers.cookie;
    if (cookie !== undefined && (cookie.includes(SESSION) || cookie.includes(FLASH))) return false;
    const started = counted === undefined ? 0 : performance.now();

    const id = requestIdFrom(headers);
    const ifNoneMatch = headers['if-none-match'];
    if (ifNoneMatch !== undefined && etagMatches(ifNoneMatch, page.etag)) {
      response.writeHead(304, head(page.headers.notModified, id));
      response.end();
      counted?.(method, 304, (performance.now() - started) / 1000);
      return true;
    }
    const accepts = headers['accept-encoding'];
    let body = page.identity;
    let raw = page.headers.identity;
    if (accepts !== undefined) {
      const coding = acceptsCoding(accepts, 'br')
        ? 'br'
        : acceptsCoding(accepts, 'gzip')
          ? 'gzip'
          : undefined;
      const copy = coding && pages.encoded(url, page, coding);
      if (copy) {
        body = copy.body;
        raw = copy.headers;
      }
    }
    // One array, so writeHead takes Node's fast path (no setHeader before it).
    response.writeHead(200, head(raw, id));
    if (method === 'HEAD') response.end();
    else response.end(body);
    // The time to hand the page to the socket: the front door never waits for the client.
    counted?.(method, 200, (performance.now() - started) / 1000);
    return true;
  };
}
