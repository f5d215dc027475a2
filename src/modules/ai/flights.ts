import type { Redis } from 'ioredis';
import type { AiEvent, Broadcast } from './broadcast.js';
import type { RedisEventStream } from './event-stream.js';
import type { RedisFallback } from './redis-fallback.js';

/**
 * Coalescing across instances: of identical requests arriving on several instances at once,
 * one calls the model and the others follow its stream through Redis.
 *
 * - `claim(key, id)`: `SET flight:<key> <id> NX PX <ttl>`. Won (or Redis away: each instance
 *   then runs its own), the caller generates and `share`s; lost, it gets the id of the
 *   generation already running elsewhere and `follow`s it.
 * - `share` copies the generation's events to its Redis stream (RedisEventStream, the same
 *   relay jobs use) and frees the claim once they are all written.
 * - `follow` reads that stream; each instance follows with one connection however many of
 *   its own callers ask (they coalesce locally on the follower's generation).
 * - A follower counts itself in `flight:<id>:readers` while it reads, so the owner keeps
 *   generating when its own callers have left but callers elsewhere still read.
 */
export interface FlightsPort {
  claim(key: string, generationId: string): Promise<string | null>;
  share(key: string, generationId: string, broadcast: Broadcast): Promise<void>;
  /** Reads a generation relayed by another instance, after `lastEventId`, to its end. */
  follow(generationId: string, signal: AbortSignal, lastEventId?: number): AsyncIterable<AiEvent>;
  /** Whether a generation's events are relayed (it runs, or ran within the hour, somewhere). */
  relayed(generationId: string): Promise<boolean>;
  /** Callers on other instances reading this generation now. */
  remoteReaders(generationId: string): Promise<number>;
}

export interface FlightsOptions {
  prefix: string;
  /** How long a claim lives at most: a crashed owner's claim goes away after it. */
  claimTtlMs: number;
}

// Compare-and-delete: only the owner's own claim is freed, never a newer one.
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0`;

export class RedisFlights implements FlightsPort {
  constructor(
    private readonly redis: Redis,
    private readonly events: RedisEventStream,
    private readonly gate: RedisFallback,
    private readonly options: FlightsOptions,
  ) {}

  private flightKey(key: string): string {
    return `${this.options.prefix}ai:flight:${key}`;
  }

  private readersKey(generationId: string): string {
    return `${this.options.prefix}ai:flight:${generationId}:readers`;
  }

  async claim(key: string, generationId: string): Promise<string | null> {
    const flight = this.flightKey(key);
    return this.gate.run(
      async () => {
        const set = await this.redis.set(flight, generationId, 'PX', this.options.claimTtlMs, 'NX');
        if (set === 'OK') return null;
        const owner = await this.redis.get(flight);
        // Freed between the two calls: the answer is in the cache or failed; run it here.
        return owner === generationId ? null : owner;
      },
      async () => null,
    );
  }

  async share(key: string, generationId: string, broadcast: Broadcast): Promise<void> {
    // A passive reader: the relay alone does not keep a generation running.
    await this.events.publish(generationId, broadcast.subscribe(undefined, -1, { passive: true }));
    await this.redis.eval(RELEASE, 1, this.flightKey(key), generationId).catch(() => undefined);
  }

  async *follow(generationId: string, signal: AbortSignal, lastEventId = -1): AsyncGenerator<AiEvent> {
    const readers = this.readersKey(generationId);
    await this.redis
      .multi()
      .incr(readers)
      .pexpire(readers, this.options.claimTtlMs)
      .exec()
      .catch(() => undefined);
    try {
      yield* this.events.subscribe(generationId, signal, lastEventId);
    } finally {
      await this.redis.decr(readers).catch(() => undefined);
    }
  }

  async relayed(generationId: string): Promise<boolean> {
    return this.gate.run(
      async () => (await this.events.lastId(generationId)) >= 0,
      async () => false,
    );
  }

  async remoteReaders(generationId: string): Promise<number> {
    const count = await this.redis.get(this.readersKey(generationId)).catch(() => null);
    return Number(count ?? 0) || 0;
  }
}
