import { hash } from 'node:crypto';
import type { Clock } from '../../clock.js';
import type { ChatMessage, GenerateParams, Usage } from './providers/types.js';

/** A complete answer as it is cached: enough to replay it as the same stream. */
export interface CachedGeneration {
  /** The tokens as they streamed, so a hit replays the same events. */
  tokens: string[];
  model: string;
  provider: string;
  alias: string;
  usage: Usage;
  finishReason: string;
}

/**
 * Finished, complete answers by exact request. Errors and partial answers are never put
 * here (the service checks), so a hit is always a whole answer. In memory now; the cache
 * issue puts the same interface on bentocache (memory + Redis).
 */
export interface GenerationCache {
  get(key: string): Promise<CachedGeneration | undefined>;
  set(key: string, value: CachedGeneration): Promise<void>;
}

/** The exact key: the resolved model, every message and every parameter, in a fixed order. */
export function generationKey(model: string, messages: ChatMessage[], params: GenerateParams): string {
  const canonical = JSON.stringify([
    model,
    messages.map((m) => [m.role, m.content]),
    [params.temperature, params.topP, params.maxTokens, params.seed, params.stop ?? []],
  ]);
  return hash('sha256', canonical, 'base64url');
}

/** Least recently used out first, each entry for `ttlMs`. */
export class MemoryGenerationCache implements GenerationCache {
  private readonly entries = new Map<string, { value: CachedGeneration; expiresAt: number }>();

  constructor(
    private readonly options: { ttlMs: number; maxEntries: number },
    private readonly clock: Clock,
  ) {}

  async get(key: string): Promise<CachedGeneration | undefined> {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    if (entry.expiresAt <= this.clock.now().getTime()) return undefined;
    // Re-inserted so that Map order is recency order.
    this.entries.set(key, entry);
    return entry.value;
  }

  async set(key: string, value: CachedGeneration): Promise<void> {
    if (this.options.ttlMs <= 0) return;
    this.entries.delete(key);
    this.entries.set(key, { value, expiresAt: this.clock.now().getTime() + this.options.ttlMs });
    while (this.entries.size > this.options.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }
}
