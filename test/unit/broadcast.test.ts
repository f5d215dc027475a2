import { describe, expect, it } from 'vitest';
import type { EventFeed } from '../../src/http/sse.js';
import { type AiEvent, Broadcast } from '../../src/modules/ai/broadcast.js';

const start: AiEvent = { id: 0, type: 'start', generationId: 'g', alias: 'default', cached: true };
const token = (id: number, text: string): AiEvent => ({ id, type: 'token', text });
const done: AiEvent = {
  id: 3,
  type: 'done',
  model: 'm',
  provider: 'p',
  alias: 'default',
  usage: { promptTokens: 1, completionTokens: 2 },
  finishReason: 'stop',
  cached: true,
  ttftMs: 0,
  durationMs: 0,
};

describe('Broadcast.read', () => {
  it('gives a finished broadcast’s events after the last id at once, as they are', () => {
    const events = [start, token(1, 'a'), token(2, 'b'), done];
    const broadcast = Broadcast.complete(events);
    expect(broadcast.done).toBe(true);
    expect(broadcast.read()).toEqual(events);
    const rest = broadcast.read(1);
    expect(rest).toEqual([token(2, 'b'), done]);
    // The same objects: a replay shares them, it does not copy them.
    expect((rest as AiEvent[])[0]).toBe(events[2]);
    expect(broadcast.read(3)).toEqual([]);
  });

  it('pushes to a reader while the broadcast runs, and follows it to its end', () => {
    const broadcast = new Broadcast();
    broadcast.push({ type: 'start', generationId: 'g', alias: 'default', cached: false });
    const reading = broadcast.read();
    expect(Array.isArray(reading)).toBe(false);
    const seen: string[] = [];
    let ended = false;
    const following = (reading as EventFeed<AiEvent>).follow({
      event: (event) => seen.push(`${event.id}:${event.type}`),
      end: () => (ended = true),
    });
    // Paused until resumed: nothing is pushed before the reader is ready.
    expect(seen).toEqual([]);
    following.resume();
    expect(seen).toEqual(['0:start']);
    broadcast.push({ type: 'token', text: 'a' });
    expect(seen).toEqual(['0:start', '1:token']);
    const { id: _id, ...end } = done;
    broadcast.push(end);
    expect(seen).toEqual(['0:start', '1:token', '2:done']);
    expect(ended).toBe(true);
  });

  it('numbers tokens handed by text like pushed events, and takes none after the end', () => {
    const broadcast = new Broadcast();
    broadcast.push({ type: 'start', generationId: 'g', alias: 'default', cached: false });
    broadcast.token('a');
    broadcast.push({ type: 'notice', message: 'retrying' });
    broadcast.token('b');
    const { id: _id, ...end } = done;
    broadcast.push(end);
    broadcast.token('late');
    expect(broadcast.read()).toEqual([
      { id: 0, type: 'start', generationId: 'g', alias: 'default', cached: false },
      token(1, 'a'),
      { id: 2, type: 'notice', message: 'retrying' },
      token(3, 'b'),
      { ...done, id: 4 },
    ]);
  });
});

describe('Broadcast.follow', () => {
  const started = () => {
    const abandoned: string[] = [];
    const broadcast = new Broadcast(() => abandoned.push('abandoned'));
    broadcast.push({ type: 'start', generationId: 'g', alias: 'default', cached: false });
    return { broadcast, abandoned };
  };

  it('keeps events for a paused reader and catches up when it resumes', () => {
    const { broadcast } = started();
    const seen: number[] = [];
    const following = broadcast.follow({ event: (e) => seen.push(e.id), end: () => seen.push(-1) });
    following.resume();
    following.pause();
    broadcast.push({ type: 'token', text: 'a' });
    broadcast.push({ type: 'token', text: 'b' });
    expect(seen).toEqual([0]);
    following.resume();
    expect(seen).toEqual([0, 1, 2]);
  });

  it('starts after the last event id a reconnecting reader saw', () => {
    const { broadcast } = started();
    broadcast.push({ type: 'token', text: 'a' });
    broadcast.push({ type: 'token', text: 'b' });
    const seen: number[] = [];
    broadcast.follow({ event: (e) => seen.push(e.id), end: () => {} }, 1).resume();
    expect(seen).toEqual([2]);
  });

  it('ends the generation when its last reader stops, not while another still reads', () => {
    const { broadcast, abandoned } = started();
    const reader = { event: () => {}, end: () => {} };
    const first = broadcast.follow(reader);
    const second = broadcast.follow(reader);
    first.stop();
    expect(abandoned).toEqual([]);
    // Stopping twice counts once.
    first.stop();
    expect(abandoned).toEqual([]);
    second.stop();
    expect(abandoned).toEqual(['abandoned']);
  });

  it('does not end the generation when a reader leaves after the end', () => {
    const { broadcast, abandoned } = started();
    let ended = 0;
    const following = broadcast.follow({ event: () => {}, end: () => ended++ });
    following.resume();
    const { id: _id, ...end } = done;
    broadcast.push(end);
    following.stop();
    expect(ended).toBe(1);
    expect(abandoned).toEqual([]);
  });

  it('lets a reader stop from inside its own event, and pushes nothing more to it', () => {
    const { broadcast } = started();
    const seen: number[] = [];
    const following = broadcast.follow({
      event: (e) => {
        seen.push(e.id);
        if (e.id === 1) following.stop();
      },
      end: () => seen.push(-1),
    });
    following.resume();
    broadcast.push({ type: 'token', text: 'a' });
    broadcast.push({ type: 'token', text: 'b' });
    expect(seen).toEqual([0, 1]);
  });
});
