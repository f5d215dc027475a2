import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * When each tag was last invalidated, as epochs: an entry is valid only if it was *born*
 * (the moment its value started being read: a page's lookup, before any database read)
 * at or after the last invalidation of each of its tags.
 *
 * bentocache's own tags compare the entry's *set* time with the tag's invalidation time,
 * which lets this through: instance B starts a render and reads the old rows, instance A
 * commits a write and invalidates the tag, B stores its render. B's store comes after the
 * invalidation, so the old page is valid everywhere until its TTL. Here B's entry carries the
 * epoch B knew before its render, which is older than A's invalidation, so it is refused.
 */
export interface TagClock {
  /** A birth mark: take it before reading anything the value is made of. */
  now(): number;
  /**
   * Whether something born at `born` with these tags is still valid, from what this process
   * knows; undefined when a tag must be read from the shared store first (see `verify`).
   */
  check(tags: readonly string[], born: number): boolean | undefined;
  /** `check`, reading unknown tags first; false when they cannot be read. */
  verify(tags: readonly string[], born: number): Promise<boolean>;
  /** Marks the tags invalidated now, here and (when shared) on every instance. */
  invalidate(tags: readonly string[]): Promise<void>;
  /** False while another instance's invalidation could be missed (the channel is down). */
  readonly connected: boolean;
  /** Called when another instance's invalidation arrives, or the channel went down or up. */
  onRemote(listener: () => void): void;
  close(): Promise<void>;
}

/** One process: a counter. Exact, and nothing to share. */
/**
 * An entry born at `born` with `tags`, judged by the epochs this process knows: false when a
 * tag was invalidated after its birth (or has an invalidation under way), true when every tag
 * is known and none was, undefined when a tag's epoch is not known here yet.
 */
export function checkKnownEpochs(
  tags: readonly string[],
  born: number,
  epochs: ReadonlyMap<string, number>,
  pending: ReadonlySet<string>,
): boolean | undefined {
  let known = true;
  for (const tag of tags) {
    if (pending.has(tag)) return false;
    const epoch = epochs.get(tag);
    if (epoch === undefined) known = false;
    else if (epoch > born) return false;
  }
  return known ? true : undefined;
}

export class LocalTagClock implements TagClock {
  private epoch = 0;
  private readonly epochs = new Map<string, number>();
  readonly connected = true;

  now(): number {
    return this.epoch;
  }

  check(tags: readonly string[], born: number): boolean {
    for (const tag of tags) if ((this.epochs.get(tag) ?? 0) > born) return false;
    return true;
  }

  async verify(tags: readonly string[], born: number): Promise<boolean> {
    return this.check(tags, born);
  }

  async invalidate(tags: readonly string[]): Promise<void> {
    this.epoch++;
    for (const tag of tags) this.epochs.set(tag, this.epoch);
  }

  onRemote(): void {}

  async close(): Promise<void> {}
}

// The epoch is the Redis server's clock in microseconds, and always above the last one given:
// one clock for every instance (theirs may disagree by any amount), monotonic while Redis
// keeps the key, and still above every earlier epoch after Redis restarts empty, unless the
// server's clock went back meanwhile. The tags' epochs and the publication happen in one
// script, so the channel carries the epochs in the order they were given.
const INVALIDATE = `
local t = redis.call('TIME')
local e = tonumber(t[1]) * 1000000 + tonumber(t[2])
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
if e <= last then e = last + 1 end
local s = string.format('%d', e)
redis.call('SET', KEYS[2], s)
for i = 3, #ARGV do redis.call('ZADD', KEYS[1], s, ARGV[i]) end
redis.call('PUBLISH', ARGV[1], s .. ' ' .. ARGV[2])
return s`;

const READ = `
local out = {}
for i = 1, #ARGV do out[i] = redis.call('ZSCORE', KEYS[1], ARGV[i]) or '0' end
return out`;

// A process keeps every tag it has seen (a post, a user, a few more): past this many, it
// forgets them all and reads again what it needs.
const MAX_KNOWN_TAGS = 100_000;
// How long an invalidation waits for its own message to come back on the channel (below).
const ECHO_WAIT_MS = 250;
const RETRY_MS = 1000;

export interface TagClockEvents {
  /** An invalidation that could not reach Redis (it is retried). */
  error(error: unknown): void;
}

/**
 * Several instances over one Redis: epochs in a sorted set (tag → epoch), each invalidation
 * published on a channel that every instance subscribes to.
 *
 * Why no ordering of (B reads the database, A commits, A invalidates, B stores, C reads)
 * serves the old page: B's entry carries `born`, an epoch B had received before its first
 * read. A invalidates after its commit, so A's epoch is above every epoch given before, B's
 * `born` included. C refuses the entry as soon as C knows A's epoch for the tag: at once on A;
 * on another instance once A's message arrives (Redis sends it to every subscriber before it
 * answers A, so before A's write is answered); and an instance that has never seen the tag
 * reads its epoch from Redis, where the script put it before publishing. No clock of any
 * instance is compared with another's: the only clock is Redis's (see INVALIDATE).
 *
 * `now()` moves only with the channel, never with a read from Redis: the channel delivers in
 * order, so when an instance has seen epoch N it has applied every invalidation up to N. A
 * value this instance caches elsewhere (the site settings a page shows) is then as fresh as
 * `now()` says, and a page born at N and rendered from it is right as of N.
 *
 * Cost: a hit compares a few numbers in a Map; Redis is read only for a tag this process has
 * not seen yet. An invalidation is one script (and waits, at most ECHO_WAIT_MS, for its own
 * message, so the instance's next render is born after it and can be stored).
 *
 * Redis away: an invalidation here still refuses this instance's entries of those tags at
 * once (the tag is held as invalidated "now" until Redis takes the epoch; the write itself
 * succeeds), and is sent again when Redis is back. While the channel is down nothing stored
 * is served (pages are rendered), and when it is back only what is born after.
 */
export class RedisTagClock implements TagClock {
  private view = 0;
  private readonly epochs = new Map<string, number>();
  /** Invalidated here while Redis could not take it: refused until it has. */
  private readonly pending = new Set<string>();
  private readonly loading = new Map<string, Promise<void>>();
  private readonly echoes = new Map<string, () => void>();
  private readonly listeners: (() => void)[] = [];
  private readonly id = randomUUID();
  private generation = 0;
  /**
   * Entries born before this are refused: set when the channel comes back after a drop, as
   * what was stored before may have missed invalidations that Redis itself no longer has
   * (a Redis restarted empty) or has not had yet (another instance's outage writes, sent
   * again when it reconnects).
   */
  private floor = 0;
  private dropped = false;
  /** Makes each invalidation's message unique, so its echo is recognised. */
  private sent = 0;
  private subscribed = false;
  private retryTimer?: NodeJS.Timeout;
  private closed = false;

  private constructor(
    private readonly redis: Redis,
    private readonly subscriber: Redis,
    private readonly keys: { epochs: string; last: string; channel: string },
    private readonly events: TagClockEvents,
  ) {}

  static async create(redis: Redis, prefix: string, events: TagClockEvents): Promise<RedisTagClock> {
    const subscriber = redis.duplicate();
    subscriber.on('error', () => {});
    const clock = new RedisTagClock(
      redis,
      subscriber,
      { epochs: `${prefix}tag-epochs`, last: `${prefix}tag-epoch`, channel: `${prefix}tag-epochs` },
      events,
    );
    subscriber.on('message', (channel: string, message: string) => clock.receive(channel, message));
    subscriber.on('close', () => clock.down());
    subscriber.on('ready', () => void clock.up());
    redis.on('ready', clock.flush);
    await subscriber.connect();
    await clock.up();
    // Epochs given before this process subscribed are read from Redis: the last one is the
    // birth of what is read from now on.
    clock.view = Number((await redis.get(clock.keys.last)) ?? 0);
    return clock;
  }

  get connected(): boolean {
    return this.subscribed;
  }

  now(): number {
    return this.view;
  }

  check(tags: readonly string[], born: number): boolean | undefined {
    if (born < this.floor) return false;
    if (!this.subscribed) return undefined;
    return checkKnownEpochs(tags, born, this.epochs, this.pending);
  }

  async verify(tags: readonly string[], born: number): Promise<boolean> {
    const known = this.check(tags, born);
    if (known !== undefined) return known;
    try {
      // The channel is down: invalidations may be missed, and Redis itself may not have them
      // (restarted empty, or another instance's outage writes not sent yet), so nothing
      // stored is trusted until the channel is back (and then only what is born after).
      if (!this.subscribed) return false;
      await Promise.all(tags.filter((tag) => !this.epochs.has(tag)).map((tag) => this.load(tag)));
    } catch {
      return false;
    }
    return this.check(tags, born) === true;
  }

  async invalidate(tags: readonly string[]): Promise<void> {
    if (tags.length === 0) return;
    // Refused here from now on, whatever Redis answers.
    for (const tag of tags) this.pending.add(tag);
    await this.send([...new Set([...tags, ...this.pending])]);
  }

  onRemote(listener: () => void): void {
    this.listeners.push(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.redis.off('ready', this.flush);
    this.subscriber.disconnect();
  }

  /** The script, for these tags; on success they leave `pending`, on failure they stay. */
  private async send(tags: string[]): Promise<void> {
    const payload = JSON.stringify({ from: this.id, n: ++this.sent, tags });
    const waiting = this.subscribed ? this.awaitEcho(payload) : undefined;
    let epoch: number;
    try {
      epoch = Number(
        await this.redis.eval(
          INVALIDATE,
          2,
          this.keys.epochs,
          this.keys.last,
          this.keys.channel,
          payload,
          ...tags,
        ),
      );
    } catch (error) {
      waiting?.cancel();
      this.events.error(error);
      this.scheduleRetry();
      return;
    }
    for (const tag of tags) {
      this.raise(tag, epoch);
      this.pending.delete(tag);
    }
    await waiting?.done;
  }

  private awaitEcho(payload: string) {
    let timer: NodeJS.Timeout | undefined;
    const done = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ECHO_WAIT_MS);
      this.echoes.set(payload, resolve);
    }).finally(() => {
      clearTimeout(timer);
      this.echoes.delete(payload);
    });
    return { done, cancel: () => this.echoes.get(payload)?.() };
  }

  private scheduleRetry() {
    if (this.retryTimer || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.flush();
    }, RETRY_MS);
    this.retryTimer.unref();
  }

  /** Sends what Redis missed while it was away. */
  private readonly flush = () => {
    if (this.pending.size > 0 && !this.closed) void this.send([...this.pending]);
  };

  private receive(channel: string, message: string) {
    if (channel !== this.keys.channel) return;
    const space = message.indexOf(' ');
    const epoch = Number(message.slice(0, space));
    const payload = message.slice(space + 1);
    let parsed: { from: string; tags: string[] };
    try {
      parsed = JSON.parse(payload) as typeof parsed;
    } catch {
      return;
    }
    for (const tag of parsed.tags) this.raise(tag, epoch);
    if (epoch > this.view) this.view = epoch;
    if (parsed.from === this.id) this.echoes.get(payload)?.();
    else this.notify();
  }

  private raise(tag: string, epoch: number) {
    const known = this.epochs.get(tag);
    if (known !== undefined && known >= epoch) return;
    if (this.epochs.size >= MAX_KNOWN_TAGS) this.epochs.clear();
    this.epochs.set(tag, epoch);
  }

  private async load(tag: string): Promise<void> {
    let loading = this.loading.get(tag);
    if (!loading) {
      const generation = this.generation;
      loading = this.read([tag])
        .then(([epoch]) => {
          // A read that began before the channel dropped may miss what came meanwhile.
          if (generation === this.generation) this.raise(tag, epoch ?? 0);
        })
        .finally(() => this.loading.delete(tag));
      this.loading.set(tag, loading);
    }
    return loading;
  }

  private async read(tags: readonly string[]): Promise<number[]> {
    const scores = (await this.redis.eval(READ, 1, this.keys.epochs, ...tags)) as string[];
    return scores.map(Number);
  }

  /** Messages may have been missed: forget every epoch (they are read again) and tell above. */
  private down() {
    if (!this.subscribed) return;
    this.subscribed = false;
    this.dropped = true;
    this.generation++;
    this.epochs.clear();
    this.notify();
  }

  private async up() {
    if (this.closed) return;
    try {
      await this.subscriber.subscribe(this.keys.channel);
      if (this.dropped) {
        // Births from now on are above everything stored before the drop. Safe as a birth:
        // the epochs are forgotten below, so each tag is read again from Redis.
        const [seconds, micros] = await this.redis.time();
        this.floor = Number(seconds) * 1_000_000 + Number(micros);
        if (this.floor > this.view) this.view = this.floor;
        this.dropped = false;
      }
    } catch {
      // The command connection is not back yet: try again shortly.
      if (!this.closed) setTimeout(() => void this.up(), RETRY_MS).unref();
      return;
    }
    this.generation++;
    this.epochs.clear();
    this.subscribed = true;
    this.notify();
    this.flush();
  }

  private notify() {
    for (const listener of this.listeners) listener();
  }
}
