/**
 * One reader for both streaming wire formats: Ollama's NDJSON and OpenAI's server-sent events.
 *
 * Why undici's `request()` and this reader rather than the `ollama` and `openai` npm clients: the
 * pipeline must skip and count malformed lines, finalise a complete stream that lacks its
 * terminator, and see error lines mid-stream with their codes. ollama-js (`parseJSON` in
 * `src/utils.ts`) drops a bad line with a `console.warn` and no count, turns an error line into a
 * bare `Error` and a missing `done: true` into "Did not receive done or success response in
 * stream."; openai-node (`Stream.fromSSEResponse` in `src/core/streaming.ts`) throws on the first
 * line that is not JSON, ending the whole answer, and logs the raw chunk to the console. Both
 * also retry or time out on their own, which the pipeline does once for every provider.
 */

export type WireFormat = 'ndjson' | 'sse';

export type JsonObject = Record<string, unknown>;

/**
 * Longest line (or SSE event) kept, in characters. A model server's chunks are a few hundred
 * bytes; the bound stops a server that never sends a newline from growing the buffer forever.
 */
const MAX_FRAME_LENGTH = 1 << 20;

/** Stands for a line that passed MAX_FRAME_LENGTH and was dropped: it counts as malformed. */
const OVERLONG = Symbol('overlong');
type Line = string | typeof OVERLONG;

/**
 * Turns a response body, chunk by chunk, into the JSON objects of its lines or events: each
 * `push` returns those the chunk completed, so the adapter reading the body hands them on the
 * moment they are whole, with no async step of the reader's own between the socket and the
 * adapter (a profile of many streams put one such step per token at a tenth of the allocation).
 * After the loop, `malformed`, `sawDoneSentinel` and `endedCleanly` say how it went. An error
 * from the body (a reset, an abort) is the adapter's to classify.
 */
export class JsonStreamReader {
  /** Lines or events that were not a JSON object: skipped, never passed on. */
  malformed = 0;
  /** The SSE `data: [DONE]` sentinel arrived (OpenAI's terminator). */
  sawDoneSentinel = false;
  /** The body ended by itself (its end, or `[DONE]`), not by an error or the consumer stopping. */
  endedCleanly = false;

  // `stream: true` keeps the first bytes of a character split across two chunks until the rest comes.
  private readonly decoder = new TextDecoder();
  private readonly lines: LineSplitter;
  private readonly events: SseEvents | undefined;

  constructor(format: WireFormat, options: { maxFrameLength?: number } = {}) {
    const max = options.maxFrameLength ?? MAX_FRAME_LENGTH;
    this.lines = new LineSplitter(max);
    this.events = format === 'sse' ? new SseEvents(max) : undefined;
  }

  /** The body said it is over (its end was pushed, or `[DONE]` came): read no more of it. */
  get finished(): boolean {
    return this.endedCleanly;
  }

  /**
   * The objects that one read of the body completes, in order: a chunk, or its end (`done`),
   * which completes a last line or event that lacked its newline. Nothing after `[DONE]`.
   */
  push(read: IteratorResult<Uint8Array, unknown>): JsonObject[] {
    const objects: JsonObject[] = [];
    if (this.endedCleanly) return objects;
    const end = read.done === true;
    const text = end ? this.decoder.decode() : this.decoder.decode(read.value, { stream: true });
    const { events } = this;
    for (const line of this.lines.push(text, end)) {
      if (!events) {
        if (line === OVERLONG) this.malformed++;
        else if (line.trim() !== '') this.parse(line, objects);
        continue;
      }
      const event = events.line(line);
      if (event === undefined) continue;
      if (isDoneSentinel(event)) {
        this.sawDoneSentinel = true;
        this.endedCleanly = true;
        return objects;
      }
      this.parse(event.data, objects, event.name);
    }
    if (end) {
      // The spec drops an event not closed by a blank line; a server that ends on its last
      // `data:` line still sent a whole object, so it is read rather than lost.
      const last = events?.end();
      if (last && isDoneSentinel(last)) this.sawDoneSentinel = true;
      else if (last !== undefined) this.parse(last.data, objects, last.name);
      this.endedCleanly = true;
    }
    return objects;
  }

  /** Adds the line's JSON object to `objects`, or counts it as malformed when it is not one. */
  private parse(data: string | typeof OVERLONG, objects: JsonObject[], eventName?: string): void {
    let value: unknown;
    try {
      if (data === OVERLONG) throw new Error('overlong');
      value = JSON.parse(data);
    } catch {
      this.malformed++;
      return;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.malformed++;
      return;
    }
    const object = value as JsonObject;
    // Some servers name the event instead of wrapping the payload: `event: error` + `data: {...}`.
    objects.push(eventName === 'error' && !('error' in object) ? { error: object } : object);
  }
}

/** Splits decoded text into lines at LF, CRLF or a lone CR, holding an unfinished line back. */
class LineSplitter {
  private buffer = '';
  private overlong = false;
  /** The last text ended in CR: if the next starts with LF, the two are one CRLF. */
  private pendingCr = false;

  constructor(private readonly max: number) {}

  push(text: string, end: boolean): Line[] {
    const lines: Line[] = [];
    let start = 0;
    if (text.length > 0) {
      if (this.pendingCr && text.startsWith('\n')) start = 1;
      this.pendingCr = false;
    }
    // Only the new text is searched: the buffer never holds a line break, so a long line
    // arriving in many chunks is scanned once.
    const breaks = /\r\n|\n|\r/g;
    breaks.lastIndex = start;
    for (let match = breaks.exec(text); match; match = breaks.exec(text)) {
      lines.push(this.take(text.slice(start, match.index)));
      start = breaks.lastIndex;
      if (match[0] === '\r' && start === text.length) this.pendingCr = true;
    }
    this.append(text.slice(start));
    if (end && (this.buffer !== '' || this.overlong)) lines.push(this.take(''));
    return lines;
  }

  private append(text: string): void {
    if (this.overlong) return;
    if (this.buffer.length + text.length > this.max) {
      this.overlong = true;
      this.buffer = '';
    } else {
      this.buffer += text;
    }
  }

  private take(tail: string): Line {
    this.append(tail);
    const line: Line = this.overlong ? OVERLONG : this.buffer;
    this.buffer = '';
    this.overlong = false;
    return line;
  }
}

interface SseEvent {
  name: string;
  data: string | typeof OVERLONG;
}

function isDoneSentinel(event: SseEvent): boolean {
  return typeof event.data === 'string' && event.data.trim() === '[DONE]';
}

/** Assembles SSE fields into events (https://html.spec.whatwg.org/multipage/server-sent-events.html). */
class SseEvents {
  private data: string[] = [];
  private size = 0;
  private name = '';
  private broken = false;

  constructor(private readonly max: number) {}

  /** Feeds one line; returns an event when a blank line closes one that carried data. */
  line(line: Line): SseEvent | undefined {
    if (line === OVERLONG) {
      this.broken = true;
      return undefined;
    }
    if (line === '') return this.end();
    if (line.startsWith(':')) return undefined; // a comment, e.g. a keep-alive ping
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.name = value;
    else if (field === 'data') {
      this.size += value.length + 1;
      if (this.size > this.max) this.broken = true;
      else this.data.push(value);
    }
    // `id:` and `retry:` are for browsers reconnecting; a model stream is never resumed.
    return undefined;
  }

  /** Closes the event being assembled, if it carried any data. */
  end(): SseEvent | undefined {
    const event: SseEvent | undefined = this.broken
      ? { name: this.name, data: OVERLONG }
      : this.data.length > 0
        ? { name: this.name, data: this.data.join('\n') }
        : undefined;
    this.data = [];
    this.size = 0;
    this.name = '';
    this.broken = false;
    return event;
  }
}
