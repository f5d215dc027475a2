import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { HotPages, type HotPageInput } from '../../src/cache/hot-pages.js';
import { acceptsCoding, etagMatches } from '../../src/http/front-door.js';

const page = (body: string, expiresAt = 10_000): HotPageInput => ({
  body,
  etag: '"e"',
  type: 'text/html; charset=utf-8',
  cacheControl: 'public, max-age=0, s-maxage=60',
  expiresAt,
});

describe('HotPages', () => {
  it('refuses a page read under an epoch an invalidation has since moved', () => {
    const hot = new HotPages({ maxBytes: 1e6, now: () => 0 });
    const before = hot.epoch;
    hot.invalidateAll();
    hot.store('/a', page('old'), before);
    expect(hot.get('/a')).toBeUndefined();
    hot.store('/a', page('new'), hot.epoch);
    expect(hot.get('/a')?.identity.toString()).toBe('new');
    hot.invalidateAll();
    expect(hot.get('/a')).toBeUndefined();
  });

  it('drops a page at its expiry', () => {
    let now = 0;
    const hot = new HotPages({ maxBytes: 1e6, now: () => now });
    hot.store('/a', page('x', 100), hot.epoch);
    now = 99;
    expect(hot.get('/a')).toBeDefined();
    now = 100;
    expect(hot.get('/a')).toBeUndefined();
    expect(hot.stats().pages).toBe(0);
  });

  it('stays within its byte bound, oldest first', () => {
    const hot = new HotPages({ maxBytes: 1000, now: () => 0 });
    for (let i = 0; i < 20; i++) hot.store(`/${i}`, page('x'.repeat(100)), hot.epoch);
    expect(hot.stats().bytes).toBeLessThanOrEqual(1000);
    expect(hot.get('/0')).toBeUndefined();
    expect(hot.get('/19')).toBeDefined();
    // A page bigger than an eighth of the bound is not kept at all.
    hot.store('/big', page('x'.repeat(200)), hot.epoch);
    expect(hot.get('/big')).toBeUndefined();
  });

  it('builds the raw headers a hit writes', () => {
    const hot = new HotPages({ maxBytes: 1e6, now: () => 0 });
    hot.store('/a', page('héllo'), hot.epoch);
    const headers = hot.get('/a')!.headers.identity;
    expect(Object.fromEntries(pairs(headers))).toMatchObject({
      'content-length': '6',
      etag: '"e"',
      vary: 'Cookie, Accept-Encoding',
      'x-page-cache': 'hit',
    });
  });
});

function* pairs(flat: string[]) {
  for (let i = 0; i < flat.length; i += 2) yield [flat[i]!, flat[i + 1]!] as const;
}

describe('acceptsCoding', () => {
  it.each([
    ['gzip, deflate, br', 'br', true],
    ['gzip, deflate', 'br', false],
    ['br;q=0, gzip', 'br', false],
    ['br;q=0.5', 'br', true],
    ['*', 'gzip', true],
    ['*;q=0, gzip', 'gzip', true],
    ['identity', 'gzip', false],
    ['x-gzip-not', 'gzip', false],
  ])('%s allows %s: %s', (header, coding, expected) => {
    expect(acceptsCoding(header, coding)).toBe(expected);
  });
});

describe('etagMatches', () => {
  it('matches strong, weak and listed tags only', () => {
    expect(etagMatches('"a"', '"a"')).toBe(true);
    expect(etagMatches('W/"a"', '"a"')).toBe(true);
    expect(etagMatches('"b", "a"', '"a"')).toBe(true);
    expect(etagMatches('"b"', '"a"')).toBe(false);
  });
});

describe('HotPages.encoded', () => {
  it('compresses on the first request for a coding, once, and counts the bytes', () => {
    const hot = new HotPages({ maxBytes: 1e6, now: () => 0 });
    hot.store('/a', page('tea '.repeat(500)), hot.epoch);
    const stored = hot.get('/a')!;
    const before = hot.stats().bytes;
    const br = hot.encoded('/a', stored, 'br')!;
    expect(brotliDecompressSync(br.body).toString()).toBe('tea '.repeat(500));
    expect(Object.fromEntries(pairs(br.headers))).toMatchObject({
      'content-encoding': 'br',
      'content-length': String(br.body.length),
      etag: '"e"',
    });
    expect(hot.encoded('/a', stored, 'br')!.body).toBe(br.body);
    const gz = hot.encoded('/a', stored, 'gzip')!;
    expect(gunzipSync(gz.body).toString()).toBe('tea '.repeat(500));
    expect(hot.stats().bytes).toBe(before + br.body.length + gz.body.length);
  });

  it('leaves a small page as it is', () => {
    const hot = new HotPages({ maxBytes: 1e6, now: () => 0 });
    hot.store('/a', page('short'), hot.epoch);
    expect(hot.encoded('/a', hot.get('/a')!, 'gzip')).toBeUndefined();
  });
});
