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

/**
 * The cache shared by the workers of `inkstone serve --workers N` when there is no Redis:
 * the primary process plays Redis's two parts, over the cluster's IPC channel.
 *
 * - a bus (worker → primary → every other worker): a write in one worker clears the entry in
 *   every other worker's L1, as Redis pub/sub does between instances;
 * - an L2 held in the primary's memory. A bus alone is not enough: bentocache invalidates a tag
 *   by writing the tag's timestamp under a key and sends only the key's name on the bus, so a
 *   worker that receives it marks its copy stale and then needs somewhere to read the new
 *   timestamp from. Without an L2 it keeps its old one and serves the invalidated page.
 *
 * Workers read the L2 only on an L1 miss (or after the bus marked an entry stale), so a hit
 * costs no IPC. The primary's memory is bounded like an L1 (CACHE_MEMORY_MAX_MB).
 */

/** Set by the primary in its workers' environment: only then is a hub on the other end. */
export const CLUSTER_ENV = 'INKSTONE_CLUSTER_WORKER';

// An L2 answer that takes longer is treated as a failed L2 read (bentocache then serves L1 and
// opens its breaker): the primary answers from memory, so this only trips when it is stuck.
const REQUEST_TIMEOUT_MS = 1000;

type L2Op =
  | { op: 'get' | 'pull' | 'delete'; key: string }
  | { op: 'set'; key: string; value: string; ttl?: number }
  | { op: 'deleteMany'; keys: string[] }
  | { op: 'clear'; prefix: string };

interface L2Request {
  inkstone: 'cache-l2';
  id: string;
  call: L2Op;
}
interface L2Reply {
  inkstone: 'cache-l2-reply';
  id: string;
  result?: string | boolean | null;
}
interface BusMessage {
  inkstone: 'cache-bus';
  channel: string;
  busId: string;
  payload: unknown;
}

type Serializable = Parameters<BusDriver['publish']>[1];
type Handler = (payload: Serializable) => void | Promise<void>;

function isMessage<T extends { inkstone: string }>(message: unknown, kind: T['inkstone']): message is T {
  return typeof message === 'object' && message !== null && (message as T).inkstone === kind;
}

function send(message: L2Request | BusMessage): void {
  if (!process.send || !process.connected) throw new Error('The cluster primary is gone');
  process.send(message);
}

/** One per worker process: L2 calls in flight, matched to their replies by id. */
class L2Channel {
  private readonly pending = new Map<string, (reply: L2Reply) => void>();
  private readonly prefix = `${process.pid}:${randomUUID().slice(0, 8)}:`;
  private next = 0;

  constructor() {
    process.on('message', (message: unknown) => {
      if (!isMessage<L2Reply>(message, 'cache-l2-reply')) return;
      const resolve = this.pending.get(message.id);
      if (resolve) {
        this.pending.delete(message.id);
        resolve(message);
      }
    });
  }

  call(call: L2Op): Promise<L2Reply['result']> {
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
        send({ inkstone: 'cache-l2', id, call });
      } catch (error) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(error as Error);
      }
    });
  }
}

let channel: L2Channel | undefined;

/** bentocache's L2 contract, each call answered by the primary's store. */
class IpcL2Driver extends BaseDriver implements L2CacheDriver {
  type = 'l2' as const;

  constructor(
    config: DriverCommonOptions,
    private readonly channel: L2Channel,
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

  setId(id: string): BusDriver {
    this.id = id;
    return this;
  }

  // The IPC channel does not reconnect: a worker whose primary is gone exits.
  onReconnect(): void {}

  async publish(channel: string, payload: Serializable): Promise<void> {
    send({ inkstone: 'cache-bus', channel, busId: this.id, payload });
  }

  async subscribe<T extends Serializable>(
    channel: string,
    handler: (payload: T) => void | Promise<void>,
  ): Promise<void> {
    if (this.handlers.size === 0) process.on('message', this.listener);
    this.handlers.set(channel, handler as Handler);
  }

  async unsubscribe(channel: string): Promise<void> {
    this.handlers.delete(channel);
    if (this.handlers.size === 0) process.off('message', this.listener);
  }

  async disconnect(): Promise<void> {
    this.handlers.clear();
    process.off('message', this.listener);
  }
}

export interface ClusterCacheLayers {
  l2: CreateDriverResult<L2CacheDriver>;
  bus: CreateBusDriverResult;
}

/**
 * The L2 and bus for a worker of `inkstone serve --workers N`; undefined in any other process
 * (a single server, a test, a worker of someone else's cluster with no hub in its primary).
 */
export function clusterCacheLayers(): ClusterCacheLayers | undefined {
  if (process.env[CLUSTER_ENV] !== '1' || !process.send) return undefined;
  return {
    l2: {
      options: {},
      factory: (config: DriverCommonOptions) => new IpcL2Driver(config, (channel ??= new L2Channel())),
    },
    // Messages that fail to send (the primary restarting a moment) are retried a while.
    bus: {
      options: { retryQueue: { enabled: true, maxSize: 1000 } },
      factory: () => new IpcBusTransport(),
    },
  };
}

/**
 * The primary's side: relays bus messages between workers and answers L2 calls from one
 * store in memory, bounded in bytes like the workers' L1.
 */
export function startCacheHub(cluster: Cluster, options: { memoryMaxBytes: number }): () => void {
  const store = new MemoryDriver({
    maxSize: options.memoryMaxBytes,
    maxEntrySize: 4 * 1024 * 1024,
    maxItems: 100_000,
  });
  const answer = (call: L2Op): L2Reply['result'] => {
    switch (call.op) {
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
  };
  const onMessage = (worker: Worker, message: unknown) => {
    if (isMessage<L2Request>(message, 'cache-l2')) {
      const reply: L2Reply = { inkstone: 'cache-l2-reply', id: message.id, result: answer(message.call) };
      if (worker.isConnected()) worker.send(reply);
    } else if (isMessage<BusMessage>(message, 'cache-bus')) {
      for (const other of Object.values(cluster.workers ?? {})) {
        if (other && other !== worker && other.isConnected()) other.send(message);
      }
    }
  };
  cluster.on('message', onMessage);
  return () => cluster.off('message', onMessage);
}
