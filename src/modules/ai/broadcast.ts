import type { EventFeed, FeedReader, FeedStop } from '../../http/sse.js';
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
  private readonly followers = new Set<Follower>();
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
    if (!this.finished) this.append({ ...event, id: this.events.length } as AiEvent);
  }

  /** `push({ type: 'token', text })` without the copy: one object per token, not two. */
  token(text: string): void {
    if (!this.finished) this.append({ type: 'token', text, id: this.events.length });
  }

  private append(event: AiEvent): void {
    this.events.push(event);
    if (event.type === 'done' || event.type === 'error') this.finished = true;
    for (const follower of this.followers) this.deliver(follower);
    if (this.waiters.length === 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /**
   * What a reader after `lastEventId` gets: once the broadcast is finished, the rest of its
   * events at once (a stream writes them in one go, with no promise per event); before, a
   * feed that pushes them to its reader as they come (`follow`).
   */
  read(lastEventId = -1): EventFeed<AiEvent> | readonly AiEvent[] {
    return this.finished
      ? this.events.slice(Math.max(0, lastEventId + 1))
      : { follow: (reader) => this.follow(reader, lastEventId) };
  }

  /**
   * Pushes the events after `lastEventId` to `reader`, synchronously: those already here when
   * it first resumes, then each as it is pushed, then `end`. No promise per event, unlike
   * `subscribe`: the hot path of a streamed answer (one event per token to every reader).
   * Starts paused; while paused (a reader's socket is full), events wait in the log, and
   * `resume` catches up. The reader counts as a subscriber until the end or `stop`.
   */
  follow(reader: FeedReader<AiEvent>, lastEventId = -1): FeedStop {
    const follower: Follower = { reader, next: Math.max(0, lastEventId + 1), paused: true };
    this.followers.add(follower);
    this.subscribers++;
    return {
      resume: () => {
        follower.paused = false;
        this.deliver(follower);
      },
      pause: () => {
        follower.paused = true;
      },
      stop: () => this.unfollow(follower),
    };
  }

  private deliver(follower: Follower): void {
    const { events } = this;
    while (!follower.paused && follower.next < events.length && this.followers.has(follower)) {
      follower.reader.event(events[follower.next++]!);
    }
    if (this.finished && follower.next >= events.length && this.unfollow(follower)) follower.reader.end();
  }

  /** False when it was gone already (ended or stopped). */
  private unfollow(follower: Follower): boolean {
    if (!this.followers.delete(follower)) return false;
    this.leave();
    return true;
  }

  private leave(): void {
    this.subscribers--;
    if (this.subscribers === 0 && !this.finished) this.onAbandoned();
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
      if (counts) this.leave();
    }
  }
}

interface Follower {
  reader: FeedReader<AiEvent>;
  /** The next event's id (its index in the log). */
  next: number;
  paused: boolean;
}
