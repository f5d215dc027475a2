import { AppError } from '../../errors.js';
import type { AiMetricsSink } from './metrics-sink.js';

interface Slots {
  capacity: number;
  inFlight: number;
  waiting: { grant: () => void; signal: AbortSignal }[];
}

export interface DispatcherOptions {
  /** Generations waiting for a slot, across providers, before new ones get 503. */
  maxQueue: number;
  /** Generations one user may have running or waiting at once. */
  perUser: number;
  metrics?: AiMetricsSink;
}

/**
 * Admission and dispatch: a bounded queue (full → 503 at once, never an unbounded wait), a
 * per-user cap so one author cannot take every slot, and per provider at most as many
 * calls in flight as the model server has parallel slots (Ollama's OLLAMA_NUM_PARALLEL,
 * vLLM's batch), so the server batches them instead of queueing them itself.
 */
export class Dispatcher {
  private readonly slots = new Map<string, Slots>();
  private readonly perUser = new Map<string, number>();
  private waitingTotal = 0;

  constructor(private readonly options: DispatcherOptions) {}

  /** Registers a new generation for `user`; the returned function ends it. */
  admit(user: string): () => void {
    if (this.waitingTotal >= this.options.maxQueue) {
      this.options.metrics?.refused('queue_full');
      throw new AppError(
        503,
        'ai_queue_full',
        `The writing assistant is busy (${this.waitingTotal} requests waiting); try again in a few seconds.`,
        undefined,
        { 'retry-after': '5' },
      );
    }
    const running = this.perUser.get(user) ?? 0;
    if (running >= this.options.perUser) {
      this.options.metrics?.refused('too_many_running');
      throw new AppError(
        429,
        'ai_too_many_running',
        `You already have ${running} AI requests running; wait for one to finish or stop it.`,
        undefined,
        { 'retry-after': '2' },
      );
    }
    this.perUser.set(user, running + 1);
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      const left = (this.perUser.get(user) ?? 1) - 1;
      if (left > 0) this.perUser.set(user, left);
      else this.perUser.delete(user);
    };
  }

  /** Waits for one of the provider's slots; the returned function gives it back. */
  async acquire(provider: string, capacity: number, signal: AbortSignal): Promise<() => void> {
    let slots = this.slots.get(provider);
    if (!slots) {
      slots = { capacity, inFlight: 0, waiting: [] };
      this.slots.set(provider, slots);
    }
    slots.capacity = capacity;
    const pool = slots;
    if (pool.inFlight < pool.capacity && pool.waiting.length === 0) {
      pool.inFlight++;
      this.options.metrics?.queueWait(provider, 0);
    } else {
      this.waitingTotal++;
      const queuedAt = performance.now();
      try {
        await new Promise<void>((resolve, reject) => {
          const entry = { grant: resolve, signal };
          pool.waiting.push(entry);
          signal.addEventListener(
            'abort',
            () => {
              const index = pool.waiting.indexOf(entry);
              if (index >= 0) pool.waiting.splice(index, 1);
              reject(signal.reason ?? new Error('aborted'));
            },
            { once: true },
          );
        });
      } finally {
        this.waitingTotal--;
        this.options.metrics?.queueWait(provider, (performance.now() - queuedAt) / 1000);
      }
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = pool.waiting.shift();
      // The slot passes straight to the next in line: inFlight stays the same.
      if (next) next.grant();
      else pool.inFlight--;
    };
  }

  stats(): { queued: number; inFlight: Record<string, number>; users: number } {
    return {
      queued: this.waitingTotal,
      inFlight: Object.fromEntries([...this.slots].map(([name, s]) => [name, s.inFlight])),
      users: this.perUser.size,
    };
  }
}
