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
  /**
   * How long a claim lives unless its owner renews it (every third of it while it runs): a
   * crashed owner's claim goes away after this, and identical requests run again.
   */
  claimTtlMs?: number;
  /** How long a follower's count lasts at most (the longest a generation may run). */
  readersTtlMs: number;
}

const CLAIM_TTL_MS = 10_000;

// Compare-and-delete: only the owner's own claim is freed, never a newer one.
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0`;
// Compare-and-renew, for the same reason.
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0`;

export class RedisFlights implements FlightsPort {
  private readonly claimTtlMs: number;

  constructor(
    private readonly redis: Redis,
    private readonly events: RedisEventStream,
    private readonly gate: RedisFallback,
    private readonly options: FlightsOptions,
  ) {
    this.claimTtlMs = options.claimTtlMs ?? CLAIM_TTL_MS;
  }

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
        const set = await this.redis.set(flight, generationId, 'PX', this.claimTtlMs, 'NX');
        if (set === 'OK') return null;
        const owner = await this.redis.get(flight);
        // Freed between the two calls: the answer is in the cache or failed; run it here.
        return owner === generationId ? null : owner;
      },
      async () => null,
    );
  }

  async share(key: string, generationId: string, broadcast: Broadcast): Promise<void> {
    const flight = this.flightKey(key);
    const renew = setInterval(() => {
      this.redis.eval(RENEW, 1, flight, generationId, this.claimTtlMs).catch(() => undefined);
    }, this.claimTtlMs / 3);
    renew.unref();
    try {
      // A passive reader: the relay alone does not keep a generation running.
      await this.events.publish(generationId, broadcast.subscribe(undefined, -1, { passive: true }));
    } finally {
      clearInterval(renew);
    }
    await this.redis.eval(RELEASE, 1, flight, generationId).catch(() => undefined);
  }

  async *follow(generationId: string, signal: AbortSignal, lastEventId = -1): AsyncGenerator<AiEvent> {
    const readers = this.readersKey(generationId);
    await this.redis
      .multi()
      .incr(readers)
      .pexpire(readers, this.options.readersTtlMs)
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
