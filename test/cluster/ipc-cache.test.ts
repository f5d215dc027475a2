import { afterEach, describe, expect, it } from 'vitest';
import { type AppCache, createCache } from '../../src/cache/cache.js';
import { CacheHub, clusterCacheLayers, clusterPageIndex, type Port } from '../../src/cache/ipc-bus.js';

// The workers' shared cache without processes: two caches, each on a port wired to one CacheHub
// as node:cluster wires workers to their primary (each side's messages delivered in order, a
// tick later). The spawned cluster is tested in serve-workers.test.ts.

class FakeWorker implements Port {
  private readonly listeners = new Set<(message: unknown) => void>();

  constructor(private readonly hub: FakePrimary) {}

  send(message: object): void {
    this.hub.fromWorker(this, structuredClone(message));
  }

  on(listener: (message: unknown) => void): void {
    this.listeners.add(listener);
  }

  off(listener: (message: unknown) => void): void {
    this.listeners.delete(listener);
  }

  deliver(message: object): void {
    const copy = structuredClone(message);
    setImmediate(() => {
      for (const listener of [...this.listeners]) listener(copy);
    });
  }
}

class FakePrimary {
  readonly hub = new CacheHub({ memoryMaxBytes: 10 * 1024 * 1024 });
  readonly workers: FakeWorker[] = [];

  worker(): FakeWorker {
    const worker = new FakeWorker(this);
    this.workers.push(worker);
    return worker;
  }

  fromWorker(sender: FakeWorker, message: unknown): void {
    setImmediate(() =>
      this.hub.receive(
        message,
        (answer) => sender.deliver(answer),
        (sent, includeSender) => {
          for (const worker of this.workers) if (includeSender || worker !== sender) worker.deliver(sent);
        },
      ),
    );
  }
}

const log = { error: () => {} };

describe('the cluster cache without Redis (bus, L2 and tag clock through the primary)', () => {
  const caches: AppCache[] = [];

  afterEach(async () => {
    await Promise.all(caches.splice(0).map((cache) => cache.close()));
  });

  async function twoWorkers(): Promise<[AppCache, AppCache]> {
    const primary = new FakePrimary();
    const make = () =>
      createCache({
        memoryMaxBytes: 1024 * 1024,
        prefix: 'ipc-test:',
        log,
        shared: clusterCacheLayers(primary.worker()),
      });
    const pair = [await make(), await make()] as [AppCache, AppCache];
    caches.push(...pair);
    return pair;
  }

  it("serves one worker's entry on the other, and a tag invalidated on either is gone on both", async () => {
    const [a, b] = await twoWorkers();
    const pagesA = a.namespace('pages');
    const pagesB = b.namespace('pages');
    expect(await pagesA.set('/', 'home v1', { ttlMs: 60_000, tags: ['posts'] })).toBe(true);
    // B has never seen it: its L1 misses, the primary's L2 has it.
    expect(await pagesB.get('/')).toBe('home v1');
    await pagesB.deleteByTag(['posts']);
    expect(await pagesA.get('/')).toBeUndefined();
    expect(await pagesB.get('/')).toBeUndefined();
  });

  it("refuses a render that another worker's write overtook, on every worker", async () => {
    const [a, b] = await twoWorkers();
    const pagesA = a.namespace('pages');
    const pagesB = b.namespace('pages');
    // A starts rendering (its birth mark before its database reads), B writes and invalidates,
    // then A's render, made of the rows before B's write, arrives to be stored.
    const born = pagesA.mark();
    await pagesB.deleteByTag(['posts']);
    expect(await pagesA.set('/', 'home before the write', { ttlMs: 60_000, tags: ['posts'], born })).toBe(
      false,
    );
    expect(await pagesA.get('/')).toBeUndefined();
    expect(await pagesB.get('/')).toBeUndefined();
    // A render that began after the write is stored and served everywhere.
    expect(await pagesA.set('/', 'home after', { ttlMs: 60_000, tags: ['posts'], born: pagesA.mark() })).toBe(
      true,
    );
    expect(await pagesB.get('/')).toBe('home after');
  });

  it("keeps the purge hook's page index for both: the worker that writes purges the pages the other served", async () => {
    const primary = new FakePrimary();
    const a = clusterPageIndex(primary.worker())!;
    const b = clusterPageIndex(primary.worker())!;
    const later = Date.now() + 60_000;
    await a.add('/', ['posts', 'site'], later);
    await a.add('/tag/x', ['posts'], later);
    await b.add('/about', ['site'], Date.now() - 1);
    expect((await b.take(['posts'])).sort()).toEqual(['/', '/tag/x']);
    expect(await a.take(['posts'])).toEqual([]);
    // The expired page is not purged; '/' is still filed under 'site'.
    expect(await a.take(['site'])).toEqual(['/']);
  });

  it('tells the other worker (onRemoteInvalidation) and not the one that wrote', async () => {
    const [a, b] = await twoWorkers();
    let heardA = 0;
    let heardB = 0;
    a.onRemoteInvalidation(() => heardA++);
    b.onRemoteInvalidation(() => heardB++);
    await a.namespace('settings').deleteByTag(['site']);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(heardB).toBeGreaterThan(0);
    expect(heardA).toBe(0);
  });
});
