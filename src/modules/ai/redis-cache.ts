import type { Redis } from 'ioredis';
import type { CachedGeneration, GenerationCache } from './cache.js';

// An answer is a few kilobytes; one of hundreds of kilobytes (a runaway generation) would
// cost Redis memory and every hit a transfer of its own size, so it is not cached at all
// (asking again asks the model again).
const DEFAULT_MAX_BYTES = 256 * 1024;

/**
 * Complete answers shared by every instance: JSON under `<prefix>ai:cache:<key>`, expired
 * by Redis (`SET … PX`), so a hit on one instance is a hit on all. Redis evicts by its own
 * policy (`maxmemory-policy`); there is no entry count here. Redis errors are thrown;
 * redis-fallback.ts decides what to do about them.
 */
export class RedisGenerationCache implements GenerationCache {
  private readonly maxBytes: number;

  constructor(
    private readonly redis: Redis,
    private readonly options: { ttlMs: number; maxBytes?: number },
    private readonly prefix = 'inkstone:',
  ) {
    this.maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  }

  async get(key: string): Promise<CachedGeneration | undefined> {
    if (this.options.ttlMs <= 0) return undefined;
    const text = await this.redis.get(this.key(key));
    if (text === null) return undefined;
    try {
      const value = JSON.parse(text) as CachedGeneration;
      // A value written by another version of Inkstone, or by hand, is a miss, not a crash.
      return Array.isArray(value.tokens) ? value : undefined;
    } catch {
      return undefined;
    }
  }

  async set(key: string, value: CachedGeneration): Promise<void> {
    if (this.options.ttlMs <= 0) return;
    const text = JSON.stringify(value);
    if (Buffer.byteLength(text) > this.maxBytes) return;
    await this.redis.set(this.key(key), text, 'PX', this.options.ttlMs);
  }

  private key(key: string): string {
    return `${this.prefix}ai:cache:${key}`;
  }
}
