import { describe, expect, it } from 'vitest';
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
    const rest = broadcast.read(undefined, 1);
    expect(rest).toEqual([token(2, 'b'), done]);
    // The same objects: a replay shares them, it does not copy them.
    expect((rest as AiEvent[])[0]).toBe(events[2]);
    expect(broadcast.read(undefined, 3)).toEqual([]);
  });

  it('subscribes while the broadcast runs, and follows it to its end', async () => {
    const broadcast = new Broadcast();
    broadcast.push({ type: 'start', generationId: 'g', alias: 'default', cached: false });
    const reading = broadcast.read();
    expect(Array.isArray(reading)).toBe(false);
    const seen: string[] = [];
    const following = (async () => {
      for await (const event of reading as AsyncIterable<AiEvent>) seen.push(event.type);
    })();
    broadcast.push({ type: 'token', text: 'a' });
    const { id: _id, ...end } = done;
    broadcast.push(end);
    await following;
    expect(seen).toEqual(['start', 'token', 'done']);
  });
});
