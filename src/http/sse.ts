import { once } from 'node:events';
import type { FastifyReply, FastifyRequest } from 'fastify';

export interface SseEvent {
  id?: number | string;
  event?: string;
  data: unknown;
  /** Send `data` (a string) as it is rather than as JSON: OpenAI's `[DONE]`. */
  raw?: boolean;
}

/**
 * Streams events to the client as Server-Sent Events, each written the moment it comes:
 * no buffering, and a slow reader is waited for (backpressure) rather than queued in memory.
 * The signal given to `events` aborts when the client goes away.
 */
export async function sendSse(
  request: FastifyRequest,
  reply: FastifyReply,
  events: (signal: AbortSignal) => AsyncIterable<SseEvent>,
  headers: Record<string, string> = {},
): Promise<void> {
  const gone = new AbortController();
  const raw = reply.raw;
  const onClose = () => gone.abort();
  raw.on('close', onClose);
  reply.hijack();
  raw.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    // nginx and other proxies buffer responses unless told not to.
    'x-accel-buffering': 'no',
    'x-request-id': request.id,
    ...headers,
  });
  try {
    for await (const event of events(gone.signal)) {
      let frame = '';
      if (event.id !== undefined) frame += `id: ${event.id}\n`;
      if (event.event) frame += `event: ${event.event}\n`;
      frame += `data: ${event.raw ? String(event.data) : JSON.stringify(event.data)}\n\n`;
      if (!raw.write(frame)) await Promise.race([once(raw, 'drain'), once(raw, 'close')]);
      if (gone.signal.aborted) break;
    }
  } catch (error) {
    request.log.error({ err: error }, 'event stream failed');
  } finally {
    raw.off('close', onClose);
    if (!raw.writableEnded) raw.end();
  }
}
