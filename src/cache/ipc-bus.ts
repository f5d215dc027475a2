import type { Cluster, Worker } from 'node:cluster';
import { randomUUID } from 'node:crypto';
import type {
  BusDriver,
  CreateBusDriverResult,
  CreateDriverResult,
  DriverCommonOptions,
  L2CacheDriver,
} from 'bentocache/types';
import { BaseDriver } from 'bentocache/drivers/base_driver';
import { MemoryDriver } from 'bentocache/drivers/memory';
import { MemoryPageIndex, type PageIndex } from './purge.js';
import { checkKnownEpochs, type TagClock } from './tag-clock.js';

/**
 * The cache shared by the workers of `inkstone serve --workers N` when there is no Redis: the
 * primary process plays Redis's parts, over the cluster's IPC channel.
 *
 * - the tag clock's epochs (IpcTagClock, below): a write's invalidation reaches every worker
 *   before the write is answered, and a render another worker's write overtook is refused;
 * - an L2 in the primary's memory, bounded like an L1 (CACHE_MEMORY_MAX_MB): a page one worker
 *   rendered serves the others. Workers read it only on an L1 miss, so a hit costs no IPC;
 * - bentocache's bus (worker → primary → every other worker): an entry written again in one
 *   worker is marked stale in the others' L1, which then read the L2;
 * - the purge hook's index of pages by tag.
 *
 * (A bus alone would not do: bentocache's own tags write the tag's time under a key and send
 * only the key's name, which a worker without an L2 cannot read back.)
 */

/** Set by the primary in its workers' environment: only then is a hub on the other end. */
export const CLUSTER_ENV = 'INKSTONE_CLUSTER_WORKER';

// An answer that takes longer is treated as a failed call (an L2 read: bentocache serves L1
// and opens its breaker; a tag read: the entry is not served): the primary answers from
// memory, so this only trips when it is stuck.
const REQUEST_TIMEOUT_MS = 1000;

type L2Op =
  | { op: 'get' | 'pull' | 'delete'; key: string }
  | { op: 'set'; key: string; value: string; ttl?: number }
  | { op: 'deleteMany'; keys: string[] }
  | { op: 'clear'; prefix: string };
type TagOp = { op: 'tag-read'; tags: string[] } | { op: 'tag-invalidate'; tags: string[]; from: string };
type IndexOp =
  { op: 'index-add'; key: string; tags: string[]; expiresAt: number } | { op: 'index-take'; tags: string[] };
type Op = L2Op | TagOp | IndexOp;

interface CallMessage {
  inkstone: 'cache-call';
  id: string;
  call: Op;
}
interface ReplyMessage {
  inkstone: 'cache-reply';
  id: string;
  result?: string | boolean | number | number[] | string[] | null;
}
interface BusMessage {
  inkstone: 'cache-bus';
  channel: string;
  busId: string;
  payload: unknown;
}
/** An invalidation, sent by the primary to every worker (its sender too) in epoch order. */
interface EpochMessage {
  inkstone: 'tag-epoch';
  epoch: number;
  tags: string[];
  from: string;
}

type Serializable = Parameters<BusDriver['publish']>[1];
type Handler = (payload: Serializable) => void | Promise<void>;

function isMessage<T extends { inkstone: string }>(message: unknown, kind: T['inkstone']): message is T {
  return typeof message === 'object' && message !== null && (message as T).inkstone === kind;
}

/** A worker's end of the channel to its primary: the cluster's IPC channel (tests: a fake). */
export interface Port {
  send(message: CallMessage | BusMessage): void;
  on(listener: (message: unknown) => void): void;
  off(listener: (message: unknown) => void): void;
}

const processPort: Port = {
  send(message) {
    if (!process.send || !process.connected) throw new Error('The cluster primary is gone');
    process.send(message);
  },
  on: (listener) => process.on('message', listener),
  off: (listener) => process.off('message', listener),
};

/** One per worker process: calls to the primary in flight, matched to their replies by id. */
class Channel {
  private readonly pending = new Map<string, (reply: ReplyMessage) => void>();
  private readonly prefix = `${process.pid}:${randomUUID().slice(0, 8)}:`;
  private next = 0;

  constructor(readonly port: Port) {
    port.on((message: unknown) => {
      if (!isMessage<ReplyMessage>(message, 'cache-reply')) return;
      const resolve = this.pending.get(message.id);
      if (resolve) {
        this.pending.delete(message.id);
        resolve(message);
      }
    });
  }

  call(call: Op): Promise<ReplyMessage['result']> {
    const id = this.prefix + this.next++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new Error(`The cluster primary did not answer a cache ${call.op} within ${REQUEST_TIMEOUT_MS} ms`),
        );
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, (reply) => {
        clearTimeout(timer);
        resolve(reply.result);
      });
      try {
        this.port.send({ inkstone: 'cache-call', id, call });
      } catch (error) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(error as Error);
      }
    });
  }
}

let processChannel: Channel | undefined;
const channel = () => (processChannel ??= new Channel(processPort));

/** bentocache's L2 contract, each call answered by the primary's store. */
class IpcL2Driver extends BaseDriver implements L2CacheDriver {
  type = 'l2' as const;

  constructor(
    config: DriverCommonOptions,
    private readonly channel: Channel,
  ) {
    super(config);
  }

  namespace(namespace: string): IpcL2Driver {
    return new IpcL2Driver({ ...this.config, prefix: this.createNamespacePrefix(namespace) }, this.channel);
  }

  async get(key: string): Promise<string | undefined> {
    return (
      ((await this.channel.call({ op: 'get', key: this.getItemKey(key) })) as string | null) ?? undefined
    );
  }

  async pull(key: string): Promise<string | undefined> {
    return (
      ((await this.channel.call({ op: 'pull', key: this.getItemKey(key) })) as string | null) ?? undefined
    );
  }

  async set(key: string, value: string, ttl?: number): Promise<boolean> {
    return (await this.channel.call({ op: 'set', key: this.getItemKey(key), value, ttl })) === true;
  }

  async clear(): Promise<void> {
    await this.channel.call({ op: 'clear', prefix: this.prefix });
  }

  async delete(key: string): Promise<boolean> {
    return (await this.channel.call({ op: 'delete', key: this.getItemKey(key) })) === true;
  }

  async deleteMany(keys: string[]): Promise<boolean> {
    if (keys.length === 0) return true;
    return (
      (await this.channel.call({ op: 'deleteMany', keys: keys.map((key) => this.getItemKey(key)) })) === true
    );
  }

  async disconnect(): Promise<void> {}
}

/**
 * The bus transport (@boringnode/bus's contract): publish goes to the primary, which hands
 * it to every other worker; a message carries its bus's id so a sender ignores its own.
 */
class IpcBusTransport implements BusDriver {
  private id = '';
  private readonly handlers = new Map<string, Handler>();
  private readonly listener = (message: unknown) => {
    if (!isMessage<BusMessage>(message, 'cache-bus') || message.busId === this.id) return;
    // The payload is what bentocache published in another worker of this same build.
    void this.handlers.get(message.channel)?.(message.payload as Serializable);
  };

  constructor(private readonly port: Port) {}

  setId(id: string): BusDriver {
    this.id = id;
    return this;
  }

  // The IPC channel does not reconnect: a worker whose primary is gone exits.
  onReconnect(): void {}

  async publish(channel: string, payload: Serializable): Promise<void> {
    this.port.send({ inkstone: 'cache-bus', channel, busId: this.id, payload });
  }

  async subscribe<T extends Serializable>(
    channel: string,
    handler: (payload: T) => void | Promise<void>,
  ): Promise<void> {
    if (this.handlers.size === 0) this.port.on(this.listener);
    this.handlers.set(channel, handler as Handler);
  }

  async unsubscribe(channel: string): Promise<void> {
    this.handlers.delete(channel);
    if (this.handlers.size === 0) this.port.off(this.listener);
  }

  async disconnect(): Promise<void> {
    this.handlers.clear();
    this.port.off(this.listener);
  }
}

// A worker keeps every tag it has seen (a post, a user, a few more): past this many, it
// forgets them all and asks the primary again for what it needs.
const MAX_KNOWN_TAGS = 100_000;

/**
 * The tag clock (src/cache/tag-clock.ts) of a cluster without Redis: the primary gives the
 * epochs, as Redis's script does between instances, so a render that another worker's write
 * overtook is refused on every worker.
 *
 * The primary handles one message at a time: an invalidation raises its epoch, records it for
 * the tags, sends it to every worker (in epoch order, the sender too) and then answers the
 * sender. IPC keeps each worker's messages in order, so a worker has applied the invalidation
 * before its own call returns, and the others get it before the sender can answer its
 * request. `now()` moves only with those messages, so a worker that has seen epoch N has
 * applied every invalidation up to N. A tag this worker has not seen yet is read from the
 * primary. The channel cannot drop and come back: a worker whose primary is gone exits.
 */
export class IpcTagClock implements TagClock {
  private view = 0;
  private readonly epochs = new Map<string, number>();
  /** Invalidated here but not yet confirmed by the primary (a call that timed out): refused. */
  private readonly pending = new Set<string>();
  private readonly listeners: (() => void)[] = [];
  private readonly id = randomUUID();
  readonly connected = true;
  private readonly listener = (message: unknown) => {
    if (!isMessage<EpochMessage>(message, 'tag-epoch')) return;
    for (const tag of message.tags) {
      this.raise(tag, message.epoch);
      this.pending.delete(tag);
    }
    if (message.epoch > this.view) this.view = message.epoch;
    if (message.from !== this.id) for (const listener of this.listeners) listener();
  };

  private constructor(private readonly channel: Channel) {
    channel.port.on(this.listener);
  }

  static async create(to: Channel): Promise<IpcTagClock> {
    const clock = new IpcTagClock(to);
    // The epoch given last, as the birth of what is read from now on (epochs sent meanwhile
    // have raised the view already: the larger wins).
    const epoch = (await to.call({ op: 'tag-read', tags: [] })) as number;
    if (epoch > clock.view) clock.view = epoch;
    return clock;
  }

  now(): number {
    return this.view;
  }

  check(tags: readonly string[], born: number): boolean | undefined {
    return checkKnownEpochs(tags, born, this.epochs, this.pending);
  }

  async verify(tags: readonly string[], born: number): Promise<boolean> {
    const known = this.check(tags, born);
    if (known !== undefined) return known;
    const unknown = tags.filter((tag) => !this.epochs.has(tag));
    try {
      const epochs = (await this.channel.call({ op: 'tag-read', tags: unknown })) as number[];
      unknown.forEach((tag, i) => this.raise(tag, epochs[i] ?? 0));
    } catch {
      return false;
    }
    return this.check(tags, born) === true;
  }

  async invalidate(tags: readonly string[]): Promise<void> {
    if (tags.length === 0) return;
    // Refused here from now on; the primary's message (before its answer) lifts it.
    for (const tag of tags) this.pending.add(tag);
    // A late answer (the call timed out) changes nothing: the primary still sends the epoch,
    // and until then the tags stay refused here. A primary that is gone ends this worker.
    await this.channel.call({ op: 'tag-invalidate', tags: [...tags], from: this.id }).catch(() => undefined);
  }

  onRemote(listener: () => void): void {
    this.listeners.push(listener);
  }

  async close(): Promise<void> {
    this.channel.port.off(this.listener);
  }

  private raise(tag: string, epoch: number) {
    // A tag never invalidated reads as epoch 0, and is known from then on.
    const known = this.epochs.get(tag);
    if (known !== undefined && known >= epoch) return;
    if (this.epochs.size >= MAX_KNOWN_TAGS) this.epochs.clear();
    this.epochs.set(tag, epoch);
  }
}

export interface ClusterCacheLayers {
  l2: CreateDriverResult<L2CacheDriver>;
  bus: CreateBusDriverResult;
  /** The tag clock the workers share (its epochs given by the primary). */
  clock(): Promise<TagClock>;
}

/**
 * The L2, bus and tag clock of a worker of `inkstone serve --workers N`; undefined in any
 * other process (a single server, a test, a worker of someone else's cluster with no hub in
 * its primary). `port`: tests wire workers to a CacheHub without processes.
 */
export function clusterCacheLayers(port?: Port): ClusterCacheLayers | undefined {
  if (!port && (process.env[CLUSTER_ENV] !== '1' || !process.send)) return undefined;
  const shared = port ? new Channel(port) : channel();
  return {
    l2: {
      options: {},
      factory: (config: DriverCommonOptions) => new IpcL2Driver(config, shared),
    },
    // Messages that fail to send (the primary restarting a moment) are retried a while.
    bus: {
      options: { retryQueue: { enabled: true, maxSize: 1000 } },
      factory: () => new IpcBusTransport(shared.port),
    },
    clock: () => IpcTagClock.create(shared),
  };
}

/**
 * The purge hook's index of pages by tag (src/cache/purge.ts), kept in the primary: the worker
 * that writes also purges the pages the others served. Undefined outside a cluster worker.
 */
export function clusterPageIndex(port?: Port): PageIndex | undefined {
  if (!port && (process.env[CLUSTER_ENV] !== '1' || !process.send)) return undefined;
  const to = port ? new Channel(port) : channel();
  return {
    async add(key, tags, expiresAt) {
      await to.call({ op: 'index-add', key, tags, expiresAt });
    },
    async take(tags) {
      return (await to.call({ op: 'index-take', tags })) as string[];
    },
  };
}

type HubMessage = ReplyMessage | BusMessage | EpochMessage;

/**
 * The primary's side: relays bus messages between workers, answers L2 calls from one store in
 * memory (bounded in bytes like the workers' L1), gives the tag clock's epochs and keeps the
 * purge hook's page index.
 */
export class CacheHub {
  private readonly store: MemoryDriver;
  private epoch = 0;
  // One number per tag ever invalidated (posts, users, a few site-wide ones): small.
  private readonly tagEpochs = new Map<string, number>();
  private readonly pageIndex = new MemoryPageIndex();

  constructor(options: { memoryMaxBytes: number }) {
    this.store = new MemoryDriver({
      maxSize: options.memoryMaxBytes,
      maxEntrySize: 4 * 1024 * 1024,
      maxItems: 100_000,
    });
  }

  /** A worker's message; `reply` answers it, `broadcast` sends to the others (or to all). */
  receive(
    message: unknown,
    reply: (message: HubMessage) => void,
    broadcast: (message: HubMessage, includeSender: boolean) => void,
  ): void {
    if (isMessage<BusMessage>(message, 'cache-bus')) {
      broadcast(message, false);
      return;
    }
    if (!isMessage<CallMessage>(message, 'cache-call')) return;
    const { call } = message;
    if (call.op === 'index-add' || call.op === 'index-take') {
      // The memory index answers at once (its promises are only for Redis's sake).
      const done =
        call.op === 'index-add'
          ? this.pageIndex.add(call.key, call.tags, call.expiresAt).then(() => true)
          : this.pageIndex.take(call.tags);
      void done.then((result) => reply({ inkstone: 'cache-reply', id: message.id, result }));
      return;
    }
    if (call.op === 'tag-invalidate') {
      const epoch = ++this.epoch;
      for (const tag of call.tags) this.tagEpochs.set(tag, epoch);
      // To every worker before the answer: see IpcTagClock.
      broadcast({ inkstone: 'tag-epoch', epoch, tags: call.tags, from: call.from }, true);
      reply({ inkstone: 'cache-reply', id: message.id, result: epoch });
      return;
    }
    reply({ inkstone: 'cache-reply', id: message.id, result: this.answer(call) });
  }

  private answer(call: L2Op | Extract<TagOp, { op: 'tag-read' }>): ReplyMessage['result'] {
    const { store } = this;
    switch (call.op) {
      case 'tag-read':
        return call.tags.length === 0 ? this.epoch : call.tags.map((tag) => this.tagEpochs.get(tag) ?? 0);
      case 'get':
        return store.get(call.key) ?? null;
      case 'pull':
        return store.pull(call.key) ?? null;
      case 'set':
        return store.set(call.key, call.value, call.ttl);
      case 'delete':
        return store.delete(call.key);
      case 'deleteMany':
        return store.deleteMany(call.keys);
      case 'clear':
        if (call.prefix) store.namespace(call.prefix).clear();
        else store.clear();
        return true;
    }
  }
}

/** The hub on the cluster's IPC channel, in the primary. Returns a function that detaches it. */
export function startCacheHub(cluster: Cluster, options: { memoryMaxBytes: number }): () => void {
  const hub = new CacheHub(options);
  const onMessage = (worker: Worker, message: unknown) => {
    hub.receive(
      message,
      (answer) => worker.isConnected() && worker.send(answer),
      (sent, includeSender) => {
        for (const other of Object.values(cluster.workers ?? {})) {
          if (other && (includeSender || other !== worker) && other.isConnected()) other.send(sent);
        }
      },
    );
  };
  cluster.on('message', onMessage);
  return () => cluster.off('message', onMessage);
}
