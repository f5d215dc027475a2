import type { Usage } from './providers/types.js';

/** What a caller of the AI pipeline receives, in order; `id` is the event's position (SSE id). */
export type AiEvent = { id: number } & (
  | { type: 'start'; generationId: string; alias: string; cached: boolean }
  | { type: 'token'; text: string }
  /** Something the author may want to know mid-answer: a retry, a switch to a fallback. */
  | { type: 'notice'; message: string }
  | {
      type: 'done';
      model: string;
      provider: string;
      alias: string;
      usage: Usage;
      finishReason: string;
      cached: boolean;
      ttftMs: number | null;
      durationMs: number;
    }
  | { type: 'error'; code: string; message: string; status: number; partial: boolean }
);

type Distribute<T> = T extends unknown ? Omit<T, 'id'> : never;
export type AiEventBody = Distribute<AiEvent>;

/**
 * One generation, fanned out to every caller that asked for it: each subscriber reads all
 * events from the start (or after the last id it saw), then follows live. When the last
 * subscriber leaves before the end, `onAbandoned` fires so the model call can stop and free
 * its slot; while anyone still reads, it goes on.
 */
export class Broadcast {
  private events: AiEvent[] = [];
  private waiters: (() => void)[] = [];
  private subscribers = 0;
  private finished = false;

  constructor(private readonly onAbandoned: () => void = () => {}) {}

  /**
   * A broadcast complete from the start (a cache hit's replay): `events` (ids 0…n, the last a
   * `done` or `error`) become its log, the array and the events as they are, so the events may
   * be shared between many. The caller hands the array over: a finished broadcast never
   * changes it, and neither may the caller.
   */
  static complete(events: AiEvent[]): Broadcast {
    const broadcast = new Broadcast();
    broadcast.events = events;
    broadcast.finished = true;
    return broadcast;
  }

  get done(): boolean {
    return this.finished;
  }

  /** The events so far (a finished broadcast: all of them). */
  get log(): readonly AiEvent[] {
    return this.events;
  }

  push(event: AiEventBody): void {
    if (this.finished) return;
    this.events.push({ ...event, id: this.events.length } as AiEvent);
    if (event.type === 'done' || event.type === 'error') this.finished = true;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /**
   * What a reader after `lastEventId` gets: once the broadcast is finished, the rest of its
   * events at once (a stream writes them in one go, with no promise per event); before, a
   * subscription.
   */
  read(signal?: AbortSignal, lastEventId = -1): AsyncIterable<AiEvent> | readonly AiEvent[] {
    return this.finished
      ? this.events.slice(Math.max(0, lastEventId + 1))
      : this.subscribe(signal, lastEventId);
  }

  /**
   * Reads from the start, or after `lastEventId` (an SSE reconnect), until the end or `signal`.
   * A `passive` reader (a relay to other instances) does not count: it neither keeps the
   * generation going nor, by leaving, ends it.
   */
  async *subscribe(
    signal?: AbortSignal,
    lastEventId = -1,
    options: { passive?: boolean } = {},
  ): AsyncGenerator<AiEvent> {
    const counts = !options.passive;
    if (counts) this.subscribers++;
    let next = Math.max(0, lastEventId + 1);
    // One listener per subscription (not one per wait: a long answer would pile them up).
    let wake: (() => void) | undefined;
    const onAbort = () => wake?.();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      while (!signal?.aborted) {
        if (next < this.events.length) {
          yield this.events[next++]!;
          continue;
        }
        if (this.finished) return;
        await new Promise<void>((resolve) => {
          wake = resolve;
          this.waiters.push(resolve);
        });
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      if (counts) {
        this.subscribers--;
        if (this.subscribers === 0 && !this.finished) this.onAbandoned();
      }
    }
  }
}
