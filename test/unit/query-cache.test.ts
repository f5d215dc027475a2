import { afterEach, describe, expect, it } from 'vitest';
import { type CacheNamespace, createCache } from '../../src/cache/cache.js';
import { QueryCache, type QueryOptions } from '../../src/cache/query-cache.js';

// QueryCache over the real cache module in one process (memory L1, local tag clock): what it
// stores, for how long, and that no read begun before a write is served or stored after it.

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

const log = { error: () => {} };

async function setup(options: { random?: () => number; hotMaxBytes?: number } = {}) {
  const cache = await createCache({ memoryMaxBytes: 8 * 1024 * 1024, prefix: 'unit:', log });
  cleanup.push(() => cache.close());
  const store = cache.namespace('queries');
  const ttls: number[] = [];
  const spy: CacheNamespace = {
    ...store,
    set: (key, value, opts) => {
      ttls.push(opts.ttlMs);
      return store.set(key, value, opts);
    },
  };
  let now = 1_000_000;
  const clock = { now: () => now, advance: (ms: number) => (now += ms) };
  const queries = new QueryCache(spy, { ttlMs: 60_000, now: clock.now, log, ...options });
  return { queries, ttls, clock, store };
}

/** A loader that counts its calls and returns what `value` says at the time. */
function counted<T>(value: () => T) {
  const loader = async () => {
    loader.calls++;
    return value();
  };
  loader.calls = 0;
  return loader;
}

const tagged = <T>(tags: string[], extra: Partial<QueryOptions<T>> = {}): QueryOptions<T> => ({
  tags: () => tags,
  ...extra,
});

const deferred = <T>() => {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
};

describe('QueryCache', () => {
  it('answers a second read from the cache and reads again after one of its tags is invalidated', async () => {
    const { queries } = await setup();
    let title = 'first';
    const load = counted(() => ({ title }));
    expect(await queries.get('list', 'home', load, tagged(['posts']))).toEqual({ title: 'first' });
    expect(await queries.get('post', 'home', load, tagged(['posts']))).toEqual({ title: 'first' });
    expect(await queries.get('list', 'home', load, tagged(['posts']))).toEqual({ title: 'first' });
    expect(load.calls).toBe(2);
    title = 'second';
    await queries.invalidate(['user:1']);
    expect(await queries.get('list', 'home', load, tagged(['posts']))).toEqual({ title: 'first' });
    await queries.invalidate(['posts']);
    expect(await queries.get('list', 'home', load, tagged(['posts']))).toEqual({ title: 'second' });
    expect(await queries.get('post', 'home', load, tagged(['posts']))).toEqual({ title: 'second' });
    expect(load.calls).toBe(4);
  });

  it('gives each kind its share of the TTL, spread by at most ±10 %', async () => {
    const low = await setup({ random: () => 0 });
    await low.queries.get('list', 'a', async () => 1, tagged(['posts']));
    await low.queries.get('post', 'b', async () => 1, tagged(['posts']));
    expect(low.ttls).toEqual([54_000, 270_000]);
    const high = await setup({ random: () => 1 });
    await high.queries.get('list', 'a', async () => 1, tagged(['posts']));
    expect(high.ttls).toEqual([66_000]);
  });

  it('keeps a value no longer than its `until` on the clock, and stores none already past it', async () => {
    const { queries, ttls, clock } = await setup({ random: () => 0.5 });
    const until = clock.now() + 5_000;
    const load = counted(() => 'list');
    const options = tagged<string>(['posts'], { until: () => until });
    await queries.get('list', 'home', load, options);
    expect(ttls).toEqual([5_000]);
    await queries.get('list', 'home', load, options);
    expect(load.calls).toBe(1);
    clock.advance(5_000);
    await queries.get('list', 'home', load, options);
    await queries.get('list', 'home', load, options);
    expect(load.calls).toBe(3);
    expect(ttls).toHaveLength(1);
  });

  it('stores nothing that `keep` refuses', async () => {
    const { queries } = await setup();
    const load = counted(() => null);
    const options = tagged<null>(['post:1'], { keep: (value) => value !== null });
    await queries.get('post', 'draft', load, options);
    await queries.get('post', 'draft', load, options);
    expect(load.calls).toBe(2);
  });

  it('runs one fill for concurrent reads of a key', async () => {
    const { queries } = await setup();
    const gate = deferred<string>();
    const load = counted(() => gate.promise);
    const reads = [1, 2, 3].map(() => queries.get('list', 'home', load, tagged(['posts'])));
    gate.resolve('once');
    expect(await Promise.all(reads)).toEqual(['once', 'once', 'once']);
    expect(load.calls).toBe(1);
  });

  it('neither joins nor stores a fill that began before a write', async () => {
    const { queries } = await setup();
    const old = deferred<string>();
    const load = counted((): Promise<string> | string => (load.calls === 1 ? old.promise : 'new'));
    const before = queries.get('list', 'home', load, tagged(['posts']));
    while (load.calls === 0) await new Promise((resolve) => setImmediate(resolve));
    await queries.invalidate(['posts']);
    const after = queries.get('list', 'home', load, tagged(['posts']));
    old.resolve('old');
    expect(await before).toBe('old');
    expect(await after).toBe('new');
    expect(await queries.get('list', 'home', load, tagged(['posts']))).toBe('new');
    expect(load.calls).toBe(2);
  });

  it('hands out frozen values from its hot layer, and drops that layer on a write or a remote invalidation', async () => {
    const { queries } = await setup();
    let version = 1;
    const load = counted(() => ({ items: [{ version }] }));
    const read = () => queries.get('list', 'home', load, tagged(['posts']));
    const first = await read();
    const second = await read();
    // The same object, not a copy parsed from the cache module's entry.
    expect(second).toBe(first);
    expect(Object.isFrozen(second.items[0])).toBe(true);
    expect(() => {
      (second.items[0] as { version: number }).version = 9;
    }).toThrow(TypeError);

    version = 2;
    // A write through the invalidator services get, with a stand-in for the page cache that
    // leaves the tags alone: the hot copy goes, the cache module's entry stays.
    const seen: string[][] = [];
    await queries.invalidator({ invalidate: async (tags) => void seen.push(tags) }).invalidate(['posts']);
    expect(seen).toEqual([['posts']]);
    const third = await read();
    expect(third).not.toBe(second);
    expect(third.items[0]!.version).toBe(1);
    expect(await read()).toBe(third);
    queries.dropHot();
    const fourth = await read();
    expect(fourth).not.toBe(third);
    await queries.invalidate(['posts']);
    expect((await read()).items[0]!.version).toBe(2);
    expect(load.calls).toBe(2);
  });

  it('keeps every kind hot, a post with its body too, within its bound in bytes, oldest out first', async () => {
    // ~3 KB per post (1,500 characters, two bytes each): a 40 KB layer holds thirteen.
    const { queries } = await setup({ hotMaxBytes: 40_000 });
    const body = 'x'.repeat(1500);
    const loads = new Map<string, number>();
    const read = (slug: string) =>
      queries.get(
        'post',
        slug,
        async () => {
          loads.set(slug, (loads.get(slug) ?? 0) + 1);
          return { slug, body };
        },
        tagged([`post:${slug}`]),
      );
    const first = await read('a');
    expect(await read('a')).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    const others = 'bcdefghijklmn'.split('');
    for (const slug of others) await read(slug);
    // 'a' was stored first and went to make room: now a copy parsed from bentocache's L1.
    const again = await read('a');
    expect(again).not.toBe(first);
    expect(again).toEqual(first);
    // 'n', the last, stayed: the same object.
    expect(await read('n')).toBe(await read('n'));
    // Nothing was read twice from the database: the L1 still had them all.
    expect([...loads.values()].every((n) => n === 1)).toBe(true);

    // A value over a tenth of the layer is never kept as an object.
    const large = { body: 'y'.repeat(3000) };
    const big = () => queries.get('comments', 'big', async () => large, tagged(['post:big']));
    const once = await big();
    expect(await big()).not.toBe(once);
    expect(Object.isFrozen(large)).toBe(true);
  });

  it('serves no hot copy once the tag clock moved, even by an invalidation that bypassed it', async () => {
    const { queries, store } = await setup();
    let version = 1;
    const load = counted(() => ({ version }));
    const read = () => queries.get('list', 'home', load, tagged(['posts']));
    const first = await read();
    expect(await read()).toBe(first);
    version = 2;
    // Another namespace's invalidation (the page cache's, the settings'): tags are one set.
    await store.deleteByTag(['posts']);
    expect(await read()).toEqual({ version: 2 });
    expect(load.calls).toBe(2);
  });

  it('reads the database when the cache fails', async () => {
    const broken = new QueryCache(
      {
        mark: () => 0,
        get: () => Promise.reject(new Error('down')),
        set: () => Promise.reject(new Error('down')),
        getOrSet: (_key, factory) => factory(),
        deleteByTag: () => Promise.reject(new Error('down')),
        inSync: () => false,
      },
      { ttlMs: 60_000, now: () => 0, log },
    );
    const load = counted(() => 'fresh');
    expect(await broken.get('list', 'home', load, tagged(['posts']))).toBe('fresh');
    expect(await broken.get('list', 'home', load, tagged(['posts']))).toBe('fresh');
    await broken.invalidate(['posts']);
    expect(load.calls).toBe(2);
  });
});
