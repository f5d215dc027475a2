import type { Redis } from 'ioredis';
import type { AiEvent, AiEventBody } from './broadcast.js';

export interface EventStreamOptions {
  /** Starts every key (REDIS_PREFIX). */
  prefix: string;
  /** Entries kept per stream (XADD MAXLEN ~): the oldest go first; a reader from the start then misses them. */
  maxLen?: number;
  /** How long a finished stream stays readable (a reconnect, a late reader). */
  finishedTtlSeconds?: number;
  log?: { warn(object: object, message: string): void };
}

export interface PublishResult {
  /** The last event written (its id in the stream), or undefined when there was none. */
  last: AiEvent | undefined;
  /** Events Redis did not take (it was away): readers elsewhere see a gap there. */
  lost: number;
}

// A long answer is ~2,000 tokens; 20,000 entries (~1 MB) bound a runaway one.
const MAX_LEN = 20_000;
const FINISHED_TTL_SECONDS = 3600;
// A stream whose writer died and whose job nobody restarts still goes away after a day.
const OPEN_TTL_SECONDS = 86_400;
// How long one XREAD waits before the reader looks at its signal again.
const BLOCK_MS = 10_000;

const isEnd = (event: { type: string }) => event.type === 'done' || event.type === 'error';

/**
 * A generation's events relayed through a Redis Stream, so that a reader on any instance
 * sees what a writer (a worker) on any other produces: what it missed, then the live tail.
 *
 * One stream per id (a job's), key `<prefix>ai:events:<id>`. Each entry's Redis id is
 * `0-<event id + 1>`, so an SSE Last-Event-ID is the XREAD cursor as it is, with no lookup,
 * and a second writer that would go back in the sequence is refused by Redis itself.
 * Event ids go on across writers: a generation started again after a crash is published
 * from `lastId() + 1` (see JobRunner), so a reader's Last-Event-ID stays meaningful.
 *
 * `publish` writes through `redis` (a client that fails fast while Redis is away: events are
 * then dropped, not queued); each `subscribe` blocks on a connection of its own, a duplicate
 * of `redis`, for as long as it reads.
 */
export class RedisEventStream {
  private readonly maxLen: number;
  private readonly finishedTtl: number;

  constructor(
    private readonly redis: Redis,
    private readonly options: EventStreamOptions,
  ) {
    this.maxLen = options.maxLen ?? MAX_LEN;
    this.finishedTtl = options.finishedTtlSeconds ?? FINISHED_TTL_SECONDS;
  }

  key(id: string): string {
    return `${this.options.prefix}ai:events:${id}`;
  }

  /** The id of the stream's last event, or -1 when it has none (never written, or expired). */
  async lastId(id: string): Promise<number> {
    const [entry] = await this.redis.xrevrange(this.key(id), '+', '-', 'COUNT', 1);
    return entry ? sequence(entry[0]) : -1;
  }

  /** Whether the stream's last event ends it (done or error). */
  async ended(id: string): Promise<boolean> {
    const [entry] = await this.redis.xrevrange(this.key(id), '+', '-', 'COUNT', 1);
    return entry !== undefined && isEnd(decode(entry[0], entry[1]));
  }

  /** Every event the stream holds, at once (no waiting): what a job has said so far. */
  async read(id: string): Promise<AiEvent[]> {
    const entries = await this.redis.xrange(this.key(id), '-', '+');
    return entries.map(([entryId, fields]) => decode(entryId, fields));
  }

  /**
   * Copies `events` (e.g. a Broadcast's subscription) to the stream as they come, each with
   * id `firstId + event.id`; resolves once the last is written. Writes are batched while one
   * is in flight, so a fast model costs a round trip per batch, not per token.
   */
  async publish(id: string, events: AsyncIterable<AiEvent>, firstId = 0): Promise<PublishResult> {
    const pending: AiEvent[] = [];
    let flushing: Promise<void> | undefined;
    let last: AiEvent | undefined;
    let lost = 0;
    const flush = async () => {
      try {
        while (pending.length > 0) {
          const batch = pending.splice(0);
          const written = await this.write(id, batch);
          if (!written) lost += batch.length;
        }
      } finally {
        // Cleared in the same turn the loop ends, so a push right after starts a new flush.
        flushing = undefined;
      }
    };
    for await (const event of events) {
      last = { ...event, id: firstId + event.id };
      pending.push(last);
      flushing ??= flush();
    }
    await flushing;
    return { last, lost };
  }

  /** Appends events after the stream's last (a notice before a restart, the end of a cancelled job). */
  async append(id: string, events: AiEventBody[], firstId?: number): Promise<number> {
    let next = firstId ?? (await this.lastId(id)) + 1;
    const numbered = events.map((event) => ({ ...event, id: next++ }) as AiEvent);
    if (!(await this.write(id, numbered))) throw new Error('Redis did not take the events');
    return next - 1;
  }

  /**
   * The stream's events after `lastEventId`, then the live tail, until an end event (done or
   * error) or `signal`. Yields the same shape as Broadcast.subscribe. A stream that does not
   * exist yet is waited for: the caller decides whether the id is worth waiting on.
   */
  async *subscribe(id: string, signal?: AbortSignal, lastEventId = -1): AsyncGenerator<AiEvent> {
    const key = this.key(id);
    const reader = this.redis.duplicate();
    // Its failures reach the caller through the rejected command, not as events.
    reader.on('error', () => {});
    const stop = () => reader.disconnect();
    signal?.addEventListener('abort', stop, { once: true });
    try {
      if (signal?.aborted) return;
      await reader.connect();
      let cursor = `0-${lastEventId + 1}`;
      while (!signal?.aborted) {
        const reply = (await reader.xread('COUNT', 1000, 'BLOCK', BLOCK_MS, 'STREAMS', key, cursor)) as
          [string, [string, string[]][]][] | null;
        for (const [entryId, fields] of reply?.[0]?.[1] ?? []) {
          cursor = entryId;
          const event = decode(entryId, fields);
          yield event;
          if (isEnd(event)) return;
        }
      }
    } catch (error) {
      // Disconnecting is how an abort interrupts a blocked XREAD.
      if (!signal?.aborted) throw error;
    } finally {
      signal?.removeEventListener('abort', stop);
      reader.disconnect();
    }
  }

  /** One pipeline: the entries, and the stream's expiry (short once it has ended). */
  private async write(id: string, events: AiEvent[]): Promise<boolean> {
    const key = this.key(id);
    const pipeline = this.redis.pipeline();
    for (const event of events) {
      const { id: eventId, ...body } = event;
      pipeline.xadd(key, 'MAXLEN', '~', this.maxLen, `0-${eventId + 1}`, 'e', JSON.stringify(body));
    }
    pipeline.expire(key, events.some(isEnd) ? this.finishedTtl : OPEN_TTL_SECONDS);
    try {
      const results = (await pipeline.exec()) ?? [];
      const failed = results.find(([error]) => error);
      if (failed) throw failed[0];
      return true;
    } catch (error) {
      this.options.log?.warn({ err: error, stream: key }, 'could not relay AI events to Redis');
      return false;
    }
  }
}

function sequence(entryId: string): number {
  return Number(entryId.slice(entryId.indexOf('-') + 1)) - 1;
}

function decode(entryId: string, fields: string[]): AiEvent {
  const body = JSON.parse(fields[1] ?? '{}') as AiEventBody;
  return { ...body, id: sequence(entryId) } as AiEvent;
}
