import { AppError } from '../../errors.js';
import type { AiEvent } from './broadcast.js';
import type { Generation } from './service.js';

export type DoneEvent = Extract<AiEvent, { type: 'done' }>;

/**
 * Waits for a generation's whole answer, for callers that asked not to stream. A failure
 * becomes the AppError it names; a client that leaves (`raw` closes) stops reading, and the
 * generation stops too unless someone else still reads it.
 */
export async function wholeAnswer(
  generation: Generation,
  raw: NodeJS.EventEmitter,
): Promise<{ text: string; done: DoneEvent }> {
  const gone = new AbortController();
  const onClose = () => gone.abort();
  raw.once('close', onClose);
  let text = '';
  try {
    for await (const event of generation.broadcast.subscribe(gone.signal)) {
      if (event.type === 'token') text += event.text;
      if (event.type === 'error') {
        throw new AppError(event.status === 499 ? 400 : event.status, event.code, event.message);
      }
      if (event.type === 'done') return { text, done: event };
    }
    throw new AppError(499, 'cancelled', 'The request was cancelled.');
  } finally {
    raw.off('close', onClose);
  }
}
