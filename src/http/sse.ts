import { once } from 'node:events';
import type { FastifyReply, FastifyRequest } from 'fastify';

export interface SseEvent {
  id?: number | string;
  event?: string;
  data: unknown;
  /** Send `data` (a string) as it is rather than as JSON: OpenAI's `[DONE]`. */
  raw?: boolean;
}

/** What a feed pushes its events to. */
export interface FeedReader<T> {
  event(event: T): void;
  /** The last event was pushed. */
  end(): void;
}

/** A follower's controls: it starts paused. */
export interface FeedStop {
  resume(): void;
  pause(): void;
  /** Leaves the feed; no more events, no `end`. */
  stop(): void;
}

/**
 * A source that pushes its events to each reader as they come (an answer being written: a
 * Broadcast), with no promise per event as an async iterable has.
 */
export interface EventFeed<T> {
  follow(reader: FeedReader<T>): FeedStop;
}

type EventSource<T> = AsyncIterable<T> | readonly T[] | EventFeed<T>;

// abort() without a reason builds a DOMException (with its stack trace) on every response.
const CLIENT_GONE = new Error('the client went away');

/** One event in the wire format. */
export function sseFrame(event: SseEvent): string {
  let frame = '';
  if (event.id !== undefined) frame += `id: ${event.id}\n`;
  if (event.event) frame += `event: ${event.event}\n`;
  return `${frame}data: ${event.raw ? String(event.data) : JSON.stringify(event.data)}\n\n`;
}

/**
 * Streams events to the client as Server-Sent Events, each written the moment it comes: no
 * buffering past the current tick, and a slow reader is waited for (backpressure) rather
 * than queued in memory. The signal given to `events` aborts when the client goes away; an
 * array from `events` (every event already there) is written at once.
 * `encode` turns an event into its frame (default: `sseFrame`); a source whose events many
 * clients read (a coalesced or replayed generation) can encode each one once.
 */
export async function sendSse<T = SseEvent>(
  request: FastifyRequest,
  reply: FastifyReply,
  events: (signal: AbortSignal) => EventSource<T>,
  options: { headers?: Record<string, string>; encode?: (event: T) => string } = {},
): Promise<void> {
  const encode = options.encode ?? (sseFrame as (event: T) => string);
  const gone = new AbortController();
  const raw = reply.raw;
  const onClose = () => gone.abort(CLIENT_GONE);
  raw.on('close', onClose);
  reply.hijack();
  raw.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    // nginx and other proxies buffer responses unless told not to.
    'x-accel-buffering': 'no',
    'x-request-id': request.id,
    ...options.headers,
  });
  // Events that are ready together (a live stream's reader catching up) leave in one
  // write at the end of the tick instead of one system call each; a live token, alone in
  // its tick, still leaves at once.
  // The first write (headers and `start`) waits for the check phase instead: a generation's
  // model call, sent in the same tick, leaves before it. undici writes a request on a reused
  // keep-alive connection only then (setImmediate, its check for unsolicited bytes), and the
  // model's time to first token, the longest wait, starts when its request arrives.
  let corked = false;
  let first = true;
  const uncork = () => {
    corked = false;
    raw.uncork();
  };
  try {
    const source = events(gone.signal);
    if (isArray(source)) {
      // All there already (a cache replay, a resume after the end): one write, then the end.
      raw.end(source.map(encode).join(''));
      return;
    }
    if (isFeed(source)) {
      await sendFeed(raw, source, encode, gone.signal, (error) =>
        request.log.error({ err: error }, 'event stream failed'),
      );
      return;
    }
    for await (const event of source) {
      if (!corked) {
        corked = true;
        raw.cork();
        if (first) setImmediate(uncork);
        else process.nextTick(uncork);
        first = false;
      }
      if (!raw.write(encode(event))) await Promise.race([once(raw, 'drain'), once(raw, 'close')]);
      if (gone.signal.aborted) break;
    }
  } catch (error) {
    request.log.error({ err: error }, 'event stream failed');
  } finally {
    raw.off('close', onClose);
    if (!raw.writableEnded) raw.end();
  }
}

/**
 * Writes a feed's events as they are pushed. Events pushed in one tick (a chunk that held
 * several tokens, a reader catching up) leave in one write, after the tick's synchronous
 * work; a live token alone in its tick leaves at once. The first write (headers and `start`)
 * waits for the check phase, for the reason given in sendSse. A full socket pauses the
 * reader; the feed keeps its events until `drain`.
 */
function sendFeed<T>(
  raw: FastifyReply['raw'],
  feed: EventFeed<T>,
  encode: (event: T) => string,
  gone: AbortSignal,
  onError: (error: unknown) => void,
): Promise<void> {
  return new Promise<void>((resolve) => {
    let pending = '';
    let scheduled = true;
    let ended = false;
    const finish = () => {
      gone.removeEventListener('abort', leave);
      raw.off('drain', onDrain);
      resolve();
    };
    const flush = () => {
      scheduled = false;
      if (gone.aborted) return;
      const text = pending;
      pending = '';
      if (text && !raw.write(text) && !ended) {
        following.pause();
        raw.once('drain', onDrain);
      }
      if (ended) finish();
    };
    const onDrain = () => following.resume();
    const leave = () => {
      following.stop();
      finish();
    };
    const following = feed.follow({
      event: (event) => {
        try {
          pending += encode(event);
        } catch (error) {
          // This reader's fault (an event it cannot encode): it leaves; the answer goes on
          // for the others rather than failing in the middle of Broadcast.push.
          onError(error);
          leave();
          return;
        }
        if (!scheduled) {
          scheduled = true;
          queueMicrotask(flush);
        }
      },
      end: () => {
        ended = true;
        if (!scheduled) flush();
      },
    });
    gone.addEventListener('abort', leave, { once: true });
    setImmediate(flush);
    following.resume();
  });
}

function isFeed<T>(value: EventSource<T>): value is EventFeed<T> {
  return typeof (value as Partial<EventFeed<T>>).follow === 'function';
}

// Array.isArray narrows a readonly array to any[]; this keeps its element type.
function isArray<T>(value: EventSource<T>): value is readonly T[] {
  return Array.isArray(value);
}
