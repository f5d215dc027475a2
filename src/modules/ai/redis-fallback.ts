import type { Redis } from 'ioredis';
import type { Clock } from '../../clock.js';
import { type CachedGeneration, type GenerationCache, MemoryGenerationCache } from './cache.js';
import { type LimitDecision, MemoryUsageLimiter, type UsageLimiter, type UsageLimits } from './limiter.js';
import { RedisGenerationCache } from './redis-cache.js';
import { RedisUsageLimiter } from './redis-limiter.js';

export interface FallbackOptions {
  /**
   * The longest an AI request waits for one Redis call before it is answered from memory.
   * A healthy Redis on the same network answers in about a millisecond, so 200 ms is an
   * outage, not a slow moment, and no more than a user notices before the first token.
   */
  timeoutMs?: number;
  /** While answering from memory, at most one call in this many ms tries Redis again. */
  probeIntervalMs?: number;
  /** What the warnings say is per instance during an outage (the AI's limits and cache by default). */
  subject?: string;
}

type Log = { warn(object: object, message: string): void };

/**
 * Sends each call to Redis and, when Redis fails or is slower than `timeoutMs`, answers it
 * from this instance's memory instead. After the first failure every call goes to memory
 * at once (no request waits on a Redis that is away), except one probe every
 * `probeIntervalMs`; the first probe that succeeds puts every call back on Redis. Each
 * switch is logged once, not once per request.
 */
export class RedisFallback {
  private readonly timeoutMs: number;
  private readonly probeIntervalMs: number;
  private readonly subject: string;
  private down = false;
  private probing = false;
  private nextProbeAt = 0;

  constructor(
    private readonly log: Log | undefined,
    options: FallbackOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 200;
    this.probeIntervalMs = options.probeIntervalMs ?? 2000;
    this.subject = options.subject ?? 'AI limits and the generation cache';
  }

  /** True while calls go to Redis. */
  get shared(): boolean {
    return !this.down;
  }

  async run<T>(shared: () => Promise<T>, local: () => Promise<T>): Promise<T> {
    let probe = false;
    if (this.down) {
      if (this.probing || performance.now() < this.nextProbeAt) return local();
      probe = this.probing = true;
    }
    try {
      const value = await this.withDeadline(shared);
      // Only a probe brings Redis back: a call sent before the outage that answers late
      // says little, and would make a Redis at the edge of the deadline flap.
      if (probe) {
        this.down = false;
        // At the outage's level, so that whoever reads the warning also sees its end.
        this.log?.warn({}, `Redis answers again: ${this.subject} are shared again`);
      }
      return value;
    } catch (error) {
      if (probe) {
        this.nextProbeAt = performance.now() + this.probeIntervalMs;
      } else if (!this.down) {
        this.down = true;
        this.nextProbeAt = performance.now() + this.probeIntervalMs;
        this.log?.warn(
          { err: error },
          `Redis is not answering: ${this.subject} are per instance until it does`,
        );
      }
      return local();
    } finally {
      if (probe) this.probing = false;
    }
  }

  private async withDeadline<T>(call: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      // Timers run before I/O in each turn of the event loop, so after a stall (a long
      // synchronous task, a GC pause) the deadline would fire ahead of an answer already
      // waiting on the socket; setImmediate lets that I/O be read first.
      const expire = () => reject(new Error(`no answer from Redis within ${this.timeoutMs} ms`));
      timer = setTimeout(() => setImmediate(expire), this.timeoutMs);
    });
    // A call that answers after the deadline is dropped (race has subscribed to it, so a
    // late rejection is not unhandled); a take counted then costs the user one request.
    return Promise.race([call(), deadline]).finally(() => clearTimeout(timer));
  }
}

export class FallbackUsageLimiter implements UsageLimiter {
  constructor(
    private readonly shared: UsageLimiter,
    private readonly local: UsageLimiter,
    private readonly gate: RedisFallback,
  ) {}

  take(user: string): Promise<LimitDecision> {
    return this.gate.run(
      () => this.shared.take(user),
      () => this.local.take(user),
    );
  }

  record(user: string, tokens: number): Promise<void> {
    return this.gate.run(
      () => this.shared.record(user, tokens),
      () => this.local.record(user, tokens),
    );
  }
}

export class FallbackGenerationCache implements GenerationCache {
  constructor(
    private readonly shared: GenerationCache,
    private readonly local: GenerationCache,
    private readonly gate: RedisFallback,
  ) {}

  get(key: string): Promise<CachedGeneration | undefined> {
    return this.gate.run(
      () => this.shared.get(key),
      () => this.local.get(key),
    );
  }

  set(key: string, value: CachedGeneration): Promise<void> {
    return this.gate.run(
      () => this.shared.set(key, value),
      () => this.local.set(key, value),
    );
  }
}

export interface SharedAiStateOptions extends FallbackOptions {
  limits: UsageLimits;
  /** maxEntries bounds the in-memory stand-in only; Redis evicts by its own policy. */
  cache: { ttlMs: number; maxEntries: number };
  prefix: string;
  log?: Log;
}

/**
 * The limiter and the generation cache every instance shares through Redis, each with an
 * in-memory stand-in for when Redis is away. One gate for both: one outage, one warning.
 */
export function createSharedAiState(redis: Redis, clock: Clock, options: SharedAiStateOptions) {
  const gate = new RedisFallback(options.log, options);
  const limiter = new FallbackUsageLimiter(
    new RedisUsageLimiter(redis, options.limits, clock, options.prefix),
    new MemoryUsageLimiter(options.limits, clock),
    gate,
  );
  const cache = new FallbackGenerationCache(
    new RedisGenerationCache(redis, { ttlMs: options.cache.ttlMs }, options.prefix),
    new MemoryGenerationCache(options.cache, clock),
    gate,
  );
  return { limiter, cache, gate };
}
