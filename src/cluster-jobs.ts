import type { Cluster, Worker } from 'node:cluster';
import { randomUUID } from 'node:crypto';
import { CLUSTER_ENV } from './cache/ipc-bus.js';
import type { AiEvent } from './modules/ai/broadcast.js';

/**
 * In-process AI jobs across the workers of `inkstone serve --workers N` without Redis: a job
 * runs in the worker that accepted it, and the primary, which knows which workers are alive,
 * keeps the register of who runs what and relays between them over the cluster's IPC channel.
 *
 * - a worker claims a job before its row exists and releases it after its end is written, so
 *   a reader that finds the job unclaimed and the row still unfinished knows its worker died;
 * - a cancel, a look at the answer so far and an event stream reach the owner through the
 *   primary; a worker that dies ends the streams relayed from it and is forgotten.
 */

/** What a worker's JobsService answers for the jobs it runs (asked through the primary). */
export interface LocalJobs {
  cancel(jobId: string): Promise<void>;
  /** The events so far; undefined when the job is not here. */
  log(jobId: string): readonly AiEvent[] | undefined;
  follow(jobId: string, lastEventId: number, signal: AbortSignal): AsyncIterable<AiEvent> | undefined;
}

export type Whereabouts = 'running' | 'gone' | 'unknown';

/** A worker's end: what JobsService needs of the other workers. */
export interface JobPeers {
  claim(jobId: string): Promise<void>;
  release(jobId: string): void;
  /** running: a live worker has it; gone: none does (its worker died, or a restart); unknown: no answer. */
  whereIs(jobId: string): Promise<Whereabouts>;
  /** Asks the owner to stop the job; false when no live worker runs it. */
  cancel(jobId: string): Promise<boolean>;
  log(jobId: string): Promise<readonly AiEvent[] | undefined>;
  /** The owner's events after lastEventId, then live; undefined when no live worker has them. */
  follow(
    jobId: string,
    lastEventId: number,
  ): Promise<((signal: AbortSignal) => AsyncIterable<AiEvent>) | undefined>;
  serve(local: LocalJobs): void;
}

type Ask =
  | { op: 'cancel'; job: string }
  | { op: 'log'; job: string }
  | { op: 'follow'; job: string; after: number; stream: string };
type Call = { op: 'claim' | 'release' | 'where'; job: string } | Ask | { op: 'unfollow'; stream: string };
type Result = boolean | string | null | readonly AiEvent[];

interface CallMessage {
  inkstone: 'jobs-call';
  id: string;
  call: Call;
}
interface ReplyMessage {
  inkstone: 'jobs-reply';
  id: string;
  result: Result;
}
/** The primary to an owner: answer with a jobs-reply of the same id. */
interface AskMessage {
  inkstone: 'jobs-ask';
  id: string;
  ask: Ask | { op: 'unfollow'; stream: string };
}
interface EventMessage {
  inkstone: 'jobs-event';
  stream: string;
  event?: AiEvent;
  /** The stream ended; `lost`: its worker died. */
  end?: 'done' | 'lost';
}
type Message = CallMessage | ReplyMessage | AskMessage | EventMessage;

function isMessage<T extends Message>(message: unknown, kind: T['inkstone']): message is T {
  return typeof message === 'object' && message !== null && (message as T).inkstone === kind;
}

/** A worker's end of the IPC channel (tests: a fake). */
export interface JobPort {
  send(message: Message): void;
  on(listener: (message: unknown) => void): void;
}

// Registering and asking where a job is are answered from the primary's memory; a cancel waits
// for the owner to write the job's end.
const CALL_TIMEOUT_MS = 2000;
const CANCEL_TIMEOUT_MS = 10_000;
// As long as AiService keeps a finished generation for a resume (its RESUME_MS).
const RESUME_MS = 60_000;

const LOST_EVENT = {
  type: 'error',
  code: 'interrupted',
  message: 'The worker running the job stopped before it finished.',
  status: 500,
  partial: true,
} as const;

class WorkerPeers implements JobPeers {
  private readonly pending = new Map<string, (result: Result) => void>();
  private readonly streams = new Map<string, (message: EventMessage) => void>();
  private readonly following = new Map<string, AbortController>();
  private readonly prefix = `${process.pid}:${randomUUID().slice(0, 8)}:`;
  private next = 0;
  private local: LocalJobs | undefined;

  constructor(private readonly port: JobPort) {
    port.on((message) => {
      if (isMessage<ReplyMessage>(message, 'jobs-reply')) {
        const resolve = this.pending.get(message.id);
        this.pending.delete(message.id);
        resolve?.(message.result);
      } else if (isMessage<EventMessage>(message, 'jobs-event')) {
        this.streams.get(message.stream)?.(message);
      } else if (isMessage<AskMessage>(message, 'jobs-ask')) {
        void this.answer(message).then(
          (result) => this.send({ inkstone: 'jobs-reply', id: message.id, result }),
          () => this.send({ inkstone: 'jobs-reply', id: message.id, result: false }),
        );
      }
    });
  }

  serve(local: LocalJobs): void {
    this.local = local;
  }

  async claim(jobId: string): Promise<void> {
    await this.call({ op: 'claim', job: jobId });
  }

  release(jobId: string): void {
    this.send({ inkstone: 'jobs-call', id: this.id(), call: { op: 'release', job: jobId } });
  }

  async whereIs(jobId: string): Promise<Whereabouts> {
    const result = await this.call({ op: 'where', job: jobId }).catch(() => 'unknown');
    return result === 'running' || result === 'gone' ? result : 'unknown';
  }

  async cancel(jobId: string): Promise<boolean> {
    return (await this.call({ op: 'cancel', job: jobId }, CANCEL_TIMEOUT_MS)) === true;
  }

  async log(jobId: string): Promise<readonly AiEvent[] | undefined> {
    const result = await this.call({ op: 'log', job: jobId }).catch(() => null);
    return Array.isArray(result) ? (result as readonly AiEvent[]) : undefined;
  }

  async follow(
    jobId: string,
    lastEventId: number,
  ): Promise<((signal: AbortSignal) => AsyncIterable<AiEvent>) | undefined> {
    const stream = this.id();
    // Registered before asking: the owner's first events may come right after its yes.
    const queue: EventMessage[] = [];
    let wake: (() => void) | undefined;
    this.streams.set(stream, (message) => {
      queue.push(message);
      wake?.();
    });
    const ok = await this.call({ op: 'follow', job: jobId, after: lastEventId, stream }).catch(() => false);
    if (ok !== true) {
      this.streams.delete(stream);
      return undefined;
    }
    return (signal) => this.read(stream, queue, signal, lastEventId, (w) => (wake = w));
  }

  private async *read(
    stream: string,
    queue: EventMessage[],
    signal: AbortSignal,
    lastEventId: number,
    onWake: (wake: (() => void) | undefined) => void,
  ): AsyncGenerator<AiEvent> {
    let last = lastEventId;
    const onAbort = () => wakeUp();
    let wakeUp = () => {};
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      while (!signal.aborted) {
        const message = queue.shift();
        if (!message) {
          await new Promise<void>((resolve) => {
            wakeUp = resolve;
            onWake(resolve);
          });
          continue;
        }
        if (message.event) {
          last = message.event.id;
          yield message.event;
        }
        if (message.end === 'lost') yield { ...LOST_EVENT, id: last + 1 };
        if (message.end) return;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      onWake(undefined);
      this.streams.delete(stream);
      // The owner stops sending (no answer needed).
      this.send({ inkstone: 'jobs-call', id: this.id(), call: { op: 'unfollow', stream } });
    }
  }

  /** An ask from the primary, for a job of this worker's. */
  private async answer(message: AskMessage): Promise<Result> {
    const { ask } = message;
    const local = this.local;
    if (ask.op === 'unfollow') {
      this.following.get(ask.stream)?.abort();
      this.following.delete(ask.stream);
      return true;
    }
    if (!local) return false;
    if (ask.op === 'cancel') {
      await local.cancel(ask.job);
      return true;
    }
    if (ask.op === 'log') return local.log(ask.job) ?? null;
    const controller = new AbortController();
    const events = local.follow(ask.job, ask.after, controller.signal);
    if (!events) return false;
    this.following.set(ask.stream, controller);
    // After the yes is sent (IPC keeps order): the follower has its stream by then.
    setImmediate(() => void this.pump(ask.stream, events, controller));
    return true;
  }

  private async pump(stream: string, events: AsyncIterable<AiEvent>, controller: AbortController) {
    try {
      for await (const event of events) this.send({ inkstone: 'jobs-event', stream, event });
    } finally {
      this.following.delete(stream);
      if (!controller.signal.aborted) this.send({ inkstone: 'jobs-event', stream, end: 'done' });
    }
  }

  private id(): string {
    return this.prefix + this.next++;
  }

  private send(message: Message): void {
    try {
      this.port.send(message);
    } catch {
      // The primary is gone: this worker exits with it.
    }
  }

  private call(call: Call, timeoutMs = CALL_TIMEOUT_MS): Promise<Result> {
    const id = this.id();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`The cluster primary did not answer a job ${call.op} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, (result) => {
        clearTimeout(timer);
        resolve(result);
      });
      try {
        this.port.send({ inkstone: 'jobs-call', id, call });
      } catch (error) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(error as Error);
      }
    });
  }
}

const processPort: JobPort = {
  send(message) {
    if (!process.send || !process.connected) throw new Error('The cluster primary is gone');
    process.send(message);
  },
  on: (listener) => process.on('message', listener),
};

/** The worker's end in a worker of `serve --workers N`; undefined in any other process. */
export function clusterJobPeers(port?: JobPort): JobPeers | undefined {
  if (!port && (process.env[CLUSTER_ENV] !== '1' || !process.send)) return undefined;
  return new WorkerPeers(port ?? processPort);
}

/** A worker as the hub sees it: tests pass fakes. */
export interface HubWorker {
  send(message: Message): void;
}

/** The primary's side: who runs which job, and the relays between workers. */
export class JobsHub {
  private readonly owners = new Map<string, HubWorker>();
  /**
   * Jobs ended lately, by the worker that ran them, whose memory still holds the events for a
   * resume (AiService's RESUME_MS): they can be followed there a while longer. Oldest first.
   */
  private readonly ended = new Map<string, { owner: HubWorker; until: number }>();

  constructor(private readonly now: () => number = Date.now) {}
  /** Asks forwarded to an owner: the primary's id → who asked, under which id. */
  private readonly asks = new Map<
    string,
    { from: HubWorker; id: string; owner: HubWorker; stream?: string }
  >();
  private readonly streams = new Map<string, { follower: HubWorker; owner: HubWorker }>();
  private next = 0;

  receive(worker: HubWorker, message: unknown): void {
    if (isMessage<EventMessage>(message, 'jobs-event')) {
      const stream = this.streams.get(message.stream);
      if (!stream) return;
      if (message.end) this.streams.delete(message.stream);
      stream.follower.send(message);
      return;
    }
    if (isMessage<ReplyMessage>(message, 'jobs-reply')) {
      const ask = this.asks.get(message.id);
      if (!ask) return;
      this.asks.delete(message.id);
      if (ask.stream && message.result !== true) this.streams.delete(ask.stream);
      ask.from.send({ inkstone: 'jobs-reply', id: ask.id, result: message.result });
      return;
    }
    if (!isMessage<CallMessage>(message, 'jobs-call')) return;
    const { call, id } = message;
    const reply = (result: Result) => worker.send({ inkstone: 'jobs-reply', id, result });
    switch (call.op) {
      case 'claim':
        this.owners.set(call.job, worker);
        return reply(true);
      case 'release':
        if (this.owners.get(call.job) !== worker) return;
        this.owners.delete(call.job);
        this.ended.set(call.job, { owner: worker, until: this.now() + RESUME_MS });
        for (const [job, { until }] of this.ended) {
          if (until > this.now()) break;
          this.ended.delete(job);
        }
        return;
      case 'where':
        return reply(this.owners.has(call.job) ? 'running' : 'gone');
      case 'unfollow': {
        const stream = this.streams.get(call.stream);
        if (!stream) return;
        this.streams.delete(call.stream);
        stream.owner.send({ inkstone: 'jobs-ask', id: `p${this.next++}`, ask: call });
        return;
      }
      default: {
        const ended = this.ended.get(call.job);
        const owner =
          this.owners.get(call.job) ??
          (call.op === 'follow' && ended && ended.until > this.now() ? ended.owner : undefined);
        if (!owner) return reply(call.op === 'log' ? null : false);
        const forwarded = `p${this.next++}`;
        const stream = call.op === 'follow' ? call.stream : undefined;
        if (stream) this.streams.set(stream, { follower: worker, owner });
        this.asks.set(forwarded, { from: worker, id, owner, stream });
        owner.send({ inkstone: 'jobs-ask', id: forwarded, ask: call });
      }
    }
  }

  /** A worker died: its jobs are nobody's, its asks unanswered, its streams ended. */
  lost(worker: HubWorker): void {
    for (const [job, owner] of this.owners) if (owner === worker) this.owners.delete(job);
    for (const [job, { owner }] of this.ended) if (owner === worker) this.ended.delete(job);
    for (const [id, ask] of this.asks) {
      if (ask.owner !== worker) continue;
      this.asks.delete(id);
      ask.from.send({ inkstone: 'jobs-reply', id: ask.id, result: false });
    }
    for (const [stream, { follower, owner }] of this.streams) {
      if (owner === worker) follower.send({ inkstone: 'jobs-event', stream, end: 'lost' });
      if (owner === worker || follower === worker) this.streams.delete(stream);
      if (follower === worker && owner !== worker) {
        owner.send({ inkstone: 'jobs-ask', id: `p${this.next++}`, ask: { op: 'unfollow', stream } });
      }
    }
  }
}

/** The hub on the cluster's IPC channel, in the primary. Returns a function that detaches it. */
export function startJobsHub(cluster: Cluster): () => void {
  const hub = new JobsHub();
  const ends = new WeakMap<Worker, HubWorker>();
  const end = (worker: Worker): HubWorker => {
    let known = ends.get(worker);
    if (!known) {
      known = { send: (message) => void (worker.isConnected() && worker.send(message)) };
      ends.set(worker, known);
    }
    return known;
  };
  const onMessage = (worker: Worker, message: unknown) => hub.receive(end(worker), message);
  const onExit = (worker: Worker) => hub.lost(end(worker));
  cluster.on('message', onMessage);
  cluster.on('exit', onExit);
  return () => {
    cluster.off('message', onMessage);
    cluster.off('exit', onExit);
  };
}
