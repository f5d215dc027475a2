/**
 * The L1's storage: bentocache's memory driver over this instead of its own lru-cache, so the
 * cache can count what it evicts and how many bytes each namespace holds (the driver keeps
 * both to itself). The driver calls only get, set, delete, keys and getRemainingTTL, on
 * values it has serialised (strings).
 *
 * Least recently used out first (a Map keeps insertion order; a hit moves the entry to the
 * end), bounded in bytes; an entry past its TTL is dropped when it is next read.
 */
export class MemoryLru {
  private readonly entries = new Map<
    string,
    { value: string; bytes: number; until: number; space: string }
  >();
  private total = 0;
  private readonly spaces = new Map<string, { bytes: number; entries: number; evictions: number }>();

  constructor(
    private readonly options: {
      maxBytes: number;
      /** Larger entries are not kept (one page must not empty the cache). */
      maxEntryBytes: number;
      /** Which namespace a stored key belongs to, for the per-namespace numbers. */
      spaceOf: (key: string) => string;
    },
  ) {}

  get(key: string): string | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.until <= Date.now()) {
      this.remove(key);
      return undefined;
    }
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.value;
  }

  set(key: string, value: string, options: { ttl?: number } = {}): this {
    this.remove(key);
    const bytes = Buffer.byteLength(value, 'utf8');
    if (bytes > this.options.maxEntryBytes) return this;
    const ttl = options.ttl;
    const until = ttl === undefined || !Number.isFinite(ttl) || ttl <= 0 ? Infinity : Date.now() + ttl;
    const space = this.options.spaceOf(key);
    this.entries.set(key, { value, bytes, until, space });
    this.total += bytes;
    const counts = this.space(space);
    counts.bytes += bytes;
    counts.entries++;
    for (const [oldest] of this.entries) {
      if (this.total <= this.options.maxBytes) break;
      const evicted = this.entries.get(oldest)!.space;
      this.remove(oldest);
      this.space(evicted).evictions++;
    }
    return this;
  }

  delete(key: string): boolean {
    return this.remove(key);
  }

  keys(): IterableIterator<string> {
    return [...this.entries.keys()][Symbol.iterator]();
  }

  /** lru-cache's contract: 0 when absent, Infinity when the entry has no TTL. */
  getRemainingTTL(key: string): number {
    const entry = this.entries.get(key);
    if (entry === undefined) return 0;
    return entry.until === Infinity ? Infinity : Math.max(0, entry.until - Date.now());
  }

  get calculatedSize(): number {
    return this.total;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Bytes, entries and evictions so far, per namespace. */
  stats(): ReadonlyMap<string, { bytes: number; entries: number; evictions: number }> {
    return this.spaces;
  }

  private space(name: string) {
    let counts = this.spaces.get(name);
    if (counts === undefined) this.spaces.set(name, (counts = { bytes: 0, entries: 0, evictions: 0 }));
    return counts;
  }

  private remove(key: string): boolean {
    const entry = this.entries.get(key);
    if (entry === undefined) return false;
    this.entries.delete(key);
    this.total -= entry.bytes;
    const counts = this.space(entry.space);
    counts.bytes -= entry.bytes;
    counts.entries--;
    return true;
  }
}
