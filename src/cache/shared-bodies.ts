/**
 * The main part of pages that show every reader the same thing (a list of published posts,
 * a tag, an author), without the layout around it: what a signed-in reader's page is made of,
 * save the header that names them and the forms that carry their CSRF token. The full-page
 * cache cannot serve such a reader (their page is their own); this lets them skip the
 * handler's reads and the body's render, and only the layout is drawn for them.
 *
 * Correct for the same reason as the hot layer (src/cache/hot-pages.ts): one epoch, moved by
 * every invalidation here or from another instance, which drops every body; a body is kept
 * only under the epoch read before the handler read anything.
 */
export interface SharedBody<M = unknown> {
  /** The page's head: title, description, canonical link, feeds. */
  meta: M;
  html: string;
  expiresAt: number;
}

interface Held<M> extends SharedBody<M> {
  bytes: number;
}

export class SharedBodies<M = unknown> {
  private readonly bodies = new Map<string, Held<M>>();
  private bytes = 0;
  private current = 0;

  constructor(private readonly options: { maxBytes: number; now?: () => number }) {}

  get epoch(): number {
    return this.current;
  }

  /** Every body goes; bodies rendered under an older epoch are refused from now on. */
  invalidateAll(): void {
    this.current++;
    this.bodies.clear();
    this.bytes = 0;
  }

  get(key: string): SharedBody<M> | undefined {
    const held = this.bodies.get(key);
    if (held === undefined) return undefined;
    if (held.expiresAt <= this.now()) {
      this.remove(key, held);
      return undefined;
    }
    return held;
  }

  /** Keeps a body rendered under `epoch`; refused if anything was invalidated since. */
  store(key: string, body: SharedBody<M>, epoch: number): void {
    if (epoch !== this.current || body.expiresAt <= this.now()) return;
    // UTF-16 in memory: two bytes a character, whatever the page's language.
    const bytes = body.html.length * 2 + key.length * 2;
    if (bytes > this.options.maxBytes / 8) return;
    const old = this.bodies.get(key);
    if (old) this.remove(key, old);
    this.bodies.set(key, { ...body, bytes });
    this.bytes += bytes;
    // Oldest stored first out: Map keeps insertion order.
    for (const [oldest, held] of this.bodies) {
      if (this.bytes <= this.options.maxBytes) break;
      this.remove(oldest, held);
    }
  }

  stats(): { entries: number; bytes: number } {
    return { entries: this.bodies.size, bytes: this.bytes };
  }

  private remove(key: string, held: Held<M>): void {
    this.bodies.delete(key);
    this.bytes -= held.bytes;
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }
}
