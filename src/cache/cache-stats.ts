import { tracingChannels } from 'bentocache';
import type { CacheOperationMessage } from 'bentocache';
import type { MemoryLru } from './memory-lru.js';

export interface LayerStats {
  /** Answered from this layer. */
  hits: number;
  /** Not in this layer (an L1 miss goes on to the L2 when there is one). */
  misses: number;
  /** Answered with an entry past its TTL while a fill ran (grace). */
  stale: number;
  /** Found, but a tag of it was invalidated after it was born: not served. */
  invalidated: number;
}

export interface NamespaceStats {
  l1: LayerStats & { evictions: number; bytes: number; entries: number };
  l2: LayerStats;
  /** Factory runs (getOrSet). */
  fills: number;
  /** Entries stored. */
  writes: number;
  /** Entries not stored: a tag was invalidated while their value was read. */
  refused: number;
}

/** A plain snapshot; the metrics module turns it into counters and gauges. */
export interface CacheStats {
  namespaces: Record<string, NamespaceStats>;
  l1Bytes: number;
  l1Entries: number;
  /**
   * Redis failures the cache survived: L2 reads and writes, L2 operations skipped while its
   * circuit breaker was open, and invalidation messages not sent (bentocache's bus, the tag
   * epochs' channel).
   */
  errors: { l2: number; l2Skipped: number; bus: number };
}

const layer = (): LayerStats => ({ hits: 0, misses: 0, stale: 0, invalidated: 0 });

// bentocache reports which layer answered only on its tracing channel (its cache:hit event
// says "l1" for an L2 hit of `get`), and that channel is one per process while there may be
// several caches (tests run two apps in one process). The start message is published
// synchronously inside the call, so the wrapper holds a slot open around its own call and
// takes the first message (later ones are bentocache's own nested operations).
let slot: { message?: CacheOperationMessage } | undefined;
tracingChannels.cacheOperation.start.subscribe((message) => {
  if (slot && !slot.message) slot.message = message as CacheOperationMessage;
});

/** Calls a bentocache operation and returns its tracing message, filled in when it settles. */
export function traced<T>(call: () => Promise<T>): [Promise<T>, { message?: CacheOperationMessage }] {
  const mine: { message?: CacheOperationMessage } = {};
  slot = mine;
  try {
    return [call(), mine];
  } finally {
    slot = undefined;
  }
}

export class CacheCounters {
  private readonly spaces = new Map<string, Omit<NamespaceStats, 'l1'> & { l1: LayerStats }>();
  readonly errors = { l2: 0, l2Skipped: 0, bus: 0 };

  constructor(
    private readonly lru: MemoryLru,
    private readonly hasL2: boolean,
  ) {}

  space(name: string) {
    let counts = this.spaces.get(name);
    if (!counts) {
      counts = { l1: layer(), l2: layer(), fills: 0, writes: 0, refused: 0 };
      this.spaces.set(name, counts);
    }
    return counts;
  }

  /** What a read found: a hit in a layer, nothing, or an entry a tag invalidated. */
  read(name: string, message: CacheOperationMessage | undefined, outcome: 'hit' | 'miss' | 'invalidated') {
    const counts = this.space(name);
    const tier = message?.hit ? (message.tier ?? 'l1') : undefined;
    if (tier === undefined) {
      counts.l1.misses++;
      if (this.hasL2) counts.l2.misses++;
      return;
    }
    if (tier === 'l2') counts.l1.misses++;
    const at = counts[tier];
    if (outcome === 'invalidated') at.invalidated++;
    else if (message?.graced) at.stale++;
    else at.hits++;
  }

  snapshot(): CacheStats {
    const namespaces: Record<string, NamespaceStats> = {};
    const memory = this.lru.stats();
    for (const name of new Set([...this.spaces.keys(), ...memory.keys()])) {
      const counts = this.space(name);
      const held = memory.get(name) ?? { bytes: 0, entries: 0, evictions: 0 };
      namespaces[name] = {
        ...counts,
        l1: { ...counts.l1, ...held },
        l2: { ...counts.l2 },
      };
    }
    return {
      namespaces,
      l1Bytes: this.lru.calculatedSize,
      l1Entries: this.lru.size,
      errors: { ...this.errors },
    };
  }
}

type Bindings = Record<string, unknown>;

/**
 * bentocache's logger, which is where it reports the Redis failures it suppresses: each is
 * counted, and logged at most once a minute per kind (an outage is thousands of them).
 */
export function errorLogger(
  counters: CacheCounters,
  log: { error(object: object, message: string): void },
  now: () => number = Date.now,
) {
  const lastLogged = { l2: -Infinity, l2Skipped: -Infinity, bus: -Infinity };
  const make = (bindings: Bindings): object => ({
    child: (more: Bindings) => make({ ...bindings, ...more }),
    trace() {},
    debug() {},
    info() {},
    warn() {},
    fatal() {},
    error(object: unknown, message?: string) {
      const text = typeof object === 'string' ? object : (message ?? '');
      const kind =
        bindings.context === 'bentocache.bus'
          ? 'bus'
          : bindings.layer === 'l2'
            ? text.includes('circuit breaker')
              ? 'l2Skipped'
              : 'l2'
            : undefined;
      if (kind === undefined) return;
      counters.errors[kind]++;
      if (kind === 'l2Skipped' || now() - lastLogged[kind] < 60_000) return;
      lastLogged[kind] = now();
      const err =
        typeof object === 'object' && object !== null ? (object as { err?: unknown }).err : undefined;
      log.error(
        { err, errors: counters.errors[kind] },
        kind === 'bus'
          ? 'Cache bus: an invalidation message could not be sent to the other instances'
          : `Cache L2 (Redis): ${text}; serving from memory`,
      );
    },
  });
  return make({});
}
