import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setImmediate, setTimeout } from 'node:timers/promises';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { type EventFeed, sendSse } from '../../src/http/sse.js';
import { type AiEvent, Broadcast } from '../../src/modules/ai/broadcast.js';
import { parseSse } from '../helpers/sse.js';

// sendSse with a feed that pushes its events (a live Broadcast): what a streamed answer uses.
describe('sendSse from a pushed feed', () => {
  let app: FastifyInstance | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  /** A server whose one route streams `broadcast`, counting the pauses sendSse asks for. */
  async function serve(
    broadcast: Broadcast,
    encode = (event: AiEvent) => `id: ${event.id}\ndata: ${JSON.stringify(event)}\n\n`,
  ) {
    const seen = { pauses: 0, stopped: false };
    app = Fastify();
    app.get('/events', (request, reply) => {
      const feed: EventFeed<AiEvent> = {
        follow: (reader) => {
          const following = broadcast.follow(reader);
          return {
            resume: () => following.resume(),
            pause: () => {
              seen.pauses++;
              following.pause();
            },
            stop: () => {
              seen.stopped = true;
              following.stop();
            },
          };
        },
      };
      return sendSse(request, reply, () => feed, { encode });
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    return { seen, url: `http://127.0.0.1:${port}/events` };
  }

  it('waits for a slow reader instead of queueing, and gives it every event in order', async () => {
    const broadcast = new Broadcast();
    broadcast.push({ type: 'start', generationId: 'g', alias: 'a', cached: false });
    const { seen, url } = await serve(broadcast);
    const big = 'x'.repeat(64 * 1024);
    const body = await new Promise<string>((resolve, reject) => {
      const call = httpRequest(url, (response) => {
        // Not read until every token is pushed, one per tick as a model sends them: the socket
        // fills and the writer must wait.
        response.pause();
        void (async () => {
          for (let i = 0; i < 200; i++) {
            broadcast.push({ type: 'token', text: `${i}${big}` });
            await setImmediate();
          }
          broadcast.push({ type: 'error', code: 'x', message: 'end', status: 500, partial: true });
          await setTimeout(50);
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => (text += chunk));
          response.on('end', () => resolve(text));
          response.on('error', reject);
          response.resume();
        })();
      });
      call.on('error', reject);
      call.end();
    });
    expect(seen.pauses).toBeGreaterThan(0);
    const events = parseSse(body);
    expect(events.map((e) => Number(e.id))).toEqual([...Array(202).keys()]);
    const texts = events.slice(1, 201).map((e) => (e.data as { text: string }).text);
    expect(texts.every((text, i) => text === `${i}${big}`)).toBe(true);
  });

  it('stops following when the client goes away, which ends an answer nobody else reads', async () => {
    let abandoned = 0;
    const broadcast = new Broadcast(() => abandoned++);
    broadcast.push({ type: 'start', generationId: 'g', alias: 'a', cached: false });
    const { seen, url } = await serve(broadcast);
    await new Promise<void>((resolve, reject) => {
      const call = httpRequest(url, (response) => {
        response.once('data', () => {
          call.destroy();
          resolve();
        });
      });
      call.on('error', () => {});
      call.end();
      void setTimeout(5000, undefined, { ref: false }).then(() => reject(new Error('no first event')));
    });
    await expect.poll(() => abandoned).toBe(1);
    expect(seen.stopped).toBe(true);
    // Pushing after the reader left reaches nobody and breaks nothing.
    broadcast.push({ type: 'token', text: 'late' });
  });

  it('drops a reader whose event cannot be encoded, and the answer goes on without failing', async () => {
    let abandoned = 0;
    const broadcast = new Broadcast(() => abandoned++);
    broadcast.push({ type: 'start', generationId: 'g', alias: 'a', cached: false });
    const { seen, url } = await serve(broadcast, (event) => {
      if (event.type === 'token' && event.text === 'bad') throw new Error('cannot encode');
      return `id: ${event.id}\ndata: ${JSON.stringify(event)}\n\n`;
    });
    const body = new Promise<string>((resolve, reject) => {
      const call = httpRequest(url, (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve(text));
        // The first event is there: the reader follows the answer.
        response.once('data', () => {
          expect(() => broadcast.push({ type: 'token', text: 'bad' })).not.toThrow();
          broadcast.push({ type: 'token', text: 'after' });
        });
      });
      call.on('error', reject);
      call.end();
    });
    const events = parseSse(await body);
    expect(events.map((e) => Number(e.id))).toEqual([0]);
    expect(seen.stopped).toBe(true);
    // It was the only reader: its leaving ends the answer, as a client going away does.
    expect(abandoned).toBe(1);
  });
});
