import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpClient } from '../../src/bench/http.js';
import { freePort } from '../helpers/redis.js';

// The bench client's sorting of failures, each made for real by a small server: a result
// file that called a timeout a reset would send a user after the wrong problem.
let server: Server;
let base: URL;

beforeAll(async () => {
  server = createServer((request, response) => {
    if (request.url === '/slow') return; // never answers
    if (request.url === '/reset') return request.socket.destroy();
    if (request.url === '/half') {
      response.writeHead(200, { 'content-length': '100' });
      response.write('only part');
      setTimeout(() => request.socket.destroy(), 20);
      return;
    }
    if (request.url === '/sse') {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.write('event: start\ndata: {}\n\n');
      setTimeout(() => response.write('event: token\ndata: {"text":"a"}\n\n'), 30);
      setTimeout(() => response.end('event: done\ndata: {}\n\n'), 60);
      return;
    }
    const status = Number(request.url!.slice(1)) || 200;
    response.statusCode = status;
    response.end('body');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = new URL(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
});

describe('the bench HTTP client', () => {
  it('sorts failures by kind', async () => {
    const client = new HttpClient({ base, timeoutMs: 300, connections: 4 });
    try {
      expect(await client.request({ path: '/' })).toMatchObject({ ok: true, status: 200, body: 'body' });
      expect(await client.request({ path: '/304' })).toMatchObject({ ok: true, status: 304 });
      expect(await client.request({ path: '/404' })).toMatchObject({ ok: false, error: '404' });
      expect(await client.request({ path: '/503' })).toMatchObject({ ok: false, error: '5xx' });
      expect(await client.request({ path: '/200', expect: [201] })).toMatchObject({
        ok: false,
        error: '200',
      });
      const slow = await client.request({ path: '/slow' });
      expect(slow).toMatchObject({ ok: false, error: 'timeout', aborted: false });
      expect(slow.ms).toBeGreaterThanOrEqual(290);
      expect(await client.request({ path: '/reset' })).toMatchObject({ ok: false, error: 'reset' });
      expect(await client.request({ path: '/half' })).toMatchObject({ ok: false, error: 'body' });
    } finally {
      await client.close();
    }
    const closed = new HttpClient({
      base: new URL(`http://127.0.0.1:${await freePort()}`),
      timeoutMs: 1000,
      connections: 1,
    });
    expect(await closed.request({ path: '/' })).toMatchObject({ ok: false, status: 0, error: 'connect' });
    await closed.close();
  });

  it('times the first token of a stream, and calls a request the run stopped aborted, not failed', async () => {
    const stop = new AbortController();
    const client = new HttpClient({ base, timeoutMs: 5000, connections: 2, stop: stop.signal });
    try {
      const sse = await client.request({ path: '/sse', sse: true });
      expect(sse.ok).toBe(true);
      expect(sse.ttftMs).toBeGreaterThanOrEqual(25);
      expect(sse.ttftMs!).toBeLessThan(sse.ms);
      const pending = client.request({ path: '/slow' });
      setTimeout(() => stop.abort(), 50);
      expect(await pending).toMatchObject({ ok: false, aborted: true });
    } finally {
      await client.close();
    }
  });
});
