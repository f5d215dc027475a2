import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bareResponse, hitBytes, rawGet, sameBytes, writePageBytes } from '../../bench/pages/bare-bytes.js';

// The bench's limit replays a page-cache hit's exact bytes: what is read off the hit, what the
// bare server answers, and the check that the two are the same.
describe('the bare servers’ bytes', () => {
  let server: Server;
  let url = '';
  let answered = 0;
  const dir = mkdtempSync(join(tmpdir(), 'inkstone-bare-bytes-'));
  beforeAll(async () => {
    // A page cache that misses once, then hits: headers in a set order, mixed case.
    server = createServer((_request, response) => {
      answered++;
      response.writeHead(200, [
        'Content-Type',
        'text/html; charset=utf-8',
        'ETag',
        '"abc"',
        'x-page-cache',
        answered === 1 ? 'miss' : 'hit',
        'Content-Length',
        '5',
      ]);
      response.end('hello');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  afterAll(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  afterEach(() => {
    delete process.env.BARE_PAGE_FILE;
    delete process.env.BARE_LEAN;
  });

  it('reads a hit in the order and case sent, without the headers Node writes itself', async () => {
    const page = await hitBytes(url);
    expect(answered).toBe(2);
    expect(page.headers).toEqual([
      'Content-Type',
      'text/html; charset=utf-8',
      'ETag',
      '"abc"',
      'x-page-cache',
      'hit',
      'Content-Length',
      '5',
    ]);
    expect(page.body.toString()).toBe('hello');
  });

  it('replays the saved page, or only its type and length when lean', async () => {
    const page = await hitBytes(url);
    const file = join(dir, 'page.json');
    writePageBytes(file, page);
    process.env.BARE_PAGE_FILE = file;
    expect(sameBytes(bareResponse(), page)).toBe(true);
    process.env.BARE_LEAN = '1';
    const lean = bareResponse();
    expect(lean.headers).toEqual(['content-type', 'text/html; charset=utf-8', 'content-length', '5']);
    expect(lean.body.equals(page.body)).toBe(true);
    expect(sameBytes(lean, page)).toBe(false);
  });

  it('tells other bytes apart: a header reordered, a value or the body changed', async () => {
    const page = await rawGet(url);
    const [a, b, c, d, ...rest] = page.headers;
    expect(sameBytes({ ...page, headers: [c!, d!, a!, b!, ...rest] }, page)).toBe(false);
    expect(
      sameBytes({ ...page, headers: page.headers.map((x) => (x === '"abc"' ? '"abd"' : x)) }, page),
    ).toBe(false);
    expect(sameBytes({ ...page, body: Buffer.from('hellO') }, page)).toBe(false);
    expect(sameBytes({ ...page }, page)).toBe(true);
  });

  it('fails loudly when no page file is given or the page never hits', async () => {
    expect(() => bareResponse()).toThrow(/BARE_PAGE_FILE/);
    const uncached = createServer((_request, response) => response.end('no cache'));
    await new Promise<void>((resolve) => uncached.listen(0, '127.0.0.1', resolve));
    try {
      const port = (uncached.address() as AddressInfo).port;
      await expect(hitBytes(`http://127.0.0.1:${port}/`)).rejects.toThrow(/never a page-cache hit/);
    } finally {
      uncached.close();
    }
  });
});
