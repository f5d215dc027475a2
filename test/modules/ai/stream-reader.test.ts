import { describe, expect, it } from 'vitest';
import { JsonStreamReader, type WireFormat } from '../../../src/modules/ai/providers/stream-reader.js';

const encoder = new TextEncoder();

/** One read of a body that gave `chunk`, as its async iterator returns it. */
const read = (chunk: string | Uint8Array): IteratorResult<Uint8Array> => ({
  done: false,
  value: typeof chunk === 'string' ? encoder.encode(chunk) : chunk,
});
/** The read that finds the body's end. */
const END: IteratorResult<Uint8Array> = { done: true, value: undefined };

/** Pushes the chunks as a body delivers them, then the body's end, collecting every object. */
function readAll(
  format: WireFormat,
  chunks: (string | Uint8Array)[],
  options: { maxFrameLength?: number } = {},
) {
  const reader = new JsonStreamReader(format, options);
  const values: unknown[] = [];
  for (const chunk of chunks) values.push(...reader.push(read(chunk)));
  values.push(...reader.push(END));
  return { values, reader };
}

/** Cuts a string's UTF-8 bytes into chunks of `size` bytes, splitting characters anywhere. */
function bytesOf(text: string, size: number): Uint8Array[] {
  const bytes = encoder.encode(text);
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.slice(i, i + size));
  return out;
}

describe('JsonStreamReader, NDJSON', () => {
  it('joins a line split across chunks and yields each object once it is whole', () => {
    const { values, reader } = readAll('ndjson', ['{"a":', '1}\n{"b"', ':2}\n']);
    expect(values).toEqual([{ a: 1 }, { b: 2 }]);
    expect(reader.malformed).toBe(0);
    expect(reader.endedCleanly).toBe(true);
  });

  it('keeps multi-byte characters whole when a chunk ends inside one, at every split point', () => {
    const text = '{"t":"春眠不觉晓 — ünïcödé 🚀"}\n';
    for (const size of [1, 2, 3, 5, 7]) {
      const { values, reader } = readAll('ndjson', bytesOf(text, size));
      expect(values, `chunks of ${size} bytes`).toEqual([{ t: '春眠不觉晓 — ünïcödé 🚀' }]);
      expect(reader.malformed).toBe(0);
    }
  });

  it('accepts CRLF, a CR split from its LF, blank lines and a last line without a newline', () => {
    const { values, reader } = readAll('ndjson', ['{"a":1}\r', '\n\r\n{"b":2}\r\n\n{"c":3}']);
    expect(values).toEqual([{ a: 1 }, { b: 2 }, { c: 3 }]);
    expect(reader.malformed).toBe(0);
  });

  it('skips and counts a line that is not a JSON object, passing the rest on', () => {
    const { values, reader } = readAll('ndjson', [
      '{"a":1}\n{"broken":\n42\n[1]\nnull\n{"b":2}\n',
      '{"truncated": tr',
    ]);
    expect(values).toEqual([{ a: 1 }, { b: 2 }]);
    expect(reader.malformed).toBe(5);
    expect(reader.endedCleanly).toBe(true);
  });

  it('drops a line longer than its bound, counting it, and carries on after the next newline', () => {
    const long = `{"x":"${'y'.repeat(100)}"}`;
    const { values, reader } = readAll('ndjson', [long.slice(0, 40), long.slice(40), '\n{"ok":true}\n'], {
      maxFrameLength: 64,
    });
    expect(values).toEqual([{ ok: true }]);
    expect(reader.malformed).toBe(1);
  });

  it('hands a line back with the chunk that completes it: nothing waits for the whole response', () => {
    const reader = new JsonStreamReader('ndjson');
    expect(reader.push(read('{"first":1}\n{"sec'))).toEqual([{ first: 1 }]);
    expect(reader.push(read('ond":2}\n'))).toEqual([{ second: 2 }]);
    // A body cut here (an error, not its end) has not ended cleanly.
    expect(reader.endedCleanly).toBe(false);
    expect(reader.finished).toBe(false);
  });
});

describe('JsonStreamReader, SSE', () => {
  it('reads data events, joining several data lines of one event with newlines', () => {
    const { values, reader } = readAll('sse', [
      'data: {"a":1}\n\n',
      'data: {"b":\ndata: 2}\n\n',
      'data:{"c":3}\n\n',
      'data: [DONE]\n\n',
    ]);
    expect(values).toEqual([{ a: 1 }, { b: 2 }, { c: 3 }]);
    expect(reader.sawDoneSentinel).toBe(true);
    expect(reader.endedCleanly).toBe(true);
  });

  it('ignores comments, unknown fields and blank lines; handles CRLF and a lone CR', () => {
    const { values } = readAll('sse', [
      ': keep-alive\r\n\r\n',
      'id: 7\r\nretry: 1000\r\nevent: message\r\ndata: {"a":1}\r',
      '\n\r\ndata: {"b":2}\r\rdata: [DONE]\r\r',
    ]);
    expect(values).toEqual([{ a: 1 }, { b: 2 }]);
  });

  it('keeps multi-byte characters whole across chunks', () => {
    const text = 'data: {"t":"你好，世界 🌏"}\r\n\r\ndata: [DONE]\r\n\r\n';
    for (const size of [1, 2, 4]) {
      const { values } = readAll('sse', bytesOf(text, size));
      expect(values).toEqual([{ t: '你好，世界 🌏' }]);
    }
  });

  it('skips and counts an event whose data is not a JSON object', () => {
    const { values, reader } = readAll('sse', [
      'data: {"a":1}\n\ndata: {"oops\n\ndata: "a string"\n\n',
      'data: {"b":2}\n\ndata: [DONE]\n\n',
    ]);
    expect(values).toEqual([{ a: 1 }, { b: 2 }]);
    expect(reader.malformed).toBe(2);
  });

  it('reports a stream that ends without [DONE]: clean end, no sentinel', () => {
    const { values, reader } = readAll('sse', ['data: {"a":1}\n\ndata: {"usage":{}}\n']);
    // The last event was not closed by a blank line but is whole: it is read, not lost.
    expect(values).toEqual([{ a: 1 }, { usage: {} }]);
    expect(reader.sawDoneSentinel).toBe(false);
    expect(reader.endedCleanly).toBe(true);
  });

  it('stops at [DONE]: nothing after it is read, and the body is finished', () => {
    const reader = new JsonStreamReader('sse');
    expect(reader.push(read('data: {"a":1}\n\ndata: [DONE]\n\ndata: {"b":2}\n\n'))).toEqual([{ a: 1 }]);
    expect(reader.finished).toBe(true);
    expect(reader.sawDoneSentinel).toBe(true);
    expect(reader.push(read('data: {"c":3}\n\n'))).toEqual([]);
    expect(reader.push(END)).toEqual([]);
  });

  it('wraps the payload of a named error event so it reads like an error line', () => {
    const { values } = readAll('sse', ['event: error\ndata: {"message":"overloaded"}\n\n']);
    expect(values).toEqual([{ error: { message: 'overloaded' } }]);
  });
});
