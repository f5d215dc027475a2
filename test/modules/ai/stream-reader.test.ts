import { describe, expect, it } from 'vitest';
import { JsonStreamReader, type WireFormat } from '../../../src/modules/ai/providers/stream-reader.js';

const encoder = new TextEncoder();

/**
 * A body that hands out exactly these chunks, as a socket's stream would (an async iterable,
 * one chunk per read), recording how often it was read and whether the reader stopped it.
 */
function body(chunks: (string | Uint8Array)[], options: { failAfter?: Error; endless?: boolean } = {}) {
  const state = { cancelled: false, pulls: 0 };
  const queue = chunks.map((c) => (typeof c === 'string' ? encoder.encode(c) : c));
  const iterator: AsyncIterator<Uint8Array> = {
    next() {
      state.pulls++;
      const value = queue.shift();
      if (value) return Promise.resolve({ done: false, value });
      if (options.failAfter) return Promise.reject(options.failAfter);
      if (options.endless) return new Promise(() => {});
      return Promise.resolve({ done: true, value: undefined });
    },
    return() {
      state.cancelled = true;
      return Promise.resolve({ done: true, value: undefined });
    },
  };
  const stream: AsyncIterable<Uint8Array> = { [Symbol.asyncIterator]: () => iterator };
  return { stream, state };
}

async function readAll(format: WireFormat, chunks: (string | Uint8Array)[]) {
  const reader = new JsonStreamReader(body(chunks).stream, format);
  const values: unknown[] = [];
  for await (const value of reader) values.push(value);
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
  it('joins a line split across chunks and yields each object once it is whole', async () => {
    const { values, reader } = await readAll('ndjson', ['{"a":', '1}\n{"b"', ':2}\n']);
    expect(values).toEqual([{ a: 1 }, { b: 2 }]);
    expect(reader.malformed).toBe(0);
    expect(reader.endedCleanly).toBe(true);
  });

  it('keeps multi-byte characters whole when a chunk ends inside one, at every split point', async () => {
    const text = '{"t":"春眠不觉晓 — ünïcödé 🚀"}\n';
    for (const size of [1, 2, 3, 5, 7]) {
      const { values, reader } = await readAll('ndjson', bytesOf(text, size));
      expect(values, `chunks of ${size} bytes`).toEqual([{ t: '春眠不觉晓 — ünïcödé 🚀' }]);
      expect(reader.malformed).toBe(0);
    }
  });

  it('accepts CRLF, a CR split from its LF, blank lines and a last line without a newline', async () => {
    const { values, reader } = await readAll('ndjson', ['{"a":1}\r', '\n\r\n{"b":2}\r\n\n{"c":3}']);
    expect(values).toEqual([{ a: 1 }, { b: 2 }, { c: 3 }]);
    expect(reader.malformed).toBe(0);
  });

  it('skips and counts a line that is not a JSON object, passing the rest on', async () => {
    const { values, reader } = await readAll('ndjson', [
      '{"a":1}\n{"broken":\n42\n[1]\nnull\n{"b":2}\n',
      '{"truncated": tr',
    ]);
    expect(values).toEqual([{ a: 1 }, { b: 2 }]);
    expect(reader.malformed).toBe(5);
    expect(reader.endedCleanly).toBe(true);
  });

  it('drops a line longer than its bound, counting it, and carries on after the next newline', async () => {
    const long = `{"x":"${'y'.repeat(100)}"}`;
    const reader = new JsonStreamReader(
      body([long.slice(0, 40), long.slice(40), '\n{"ok":true}\n']).stream,
      'ndjson',
      { maxFrameLength: 64 },
    );
    const values: unknown[] = [];
    for await (const value of reader) values.push(value);
    expect(values).toEqual([{ ok: true }]);
    expect(reader.malformed).toBe(1);
  });

  it('yields a line before the next chunk exists: nothing waits for the whole response', async () => {
    const { stream, state } = body(['{"first":1}\n'], { endless: true });
    const iterator = new JsonStreamReader(stream, 'ndjson')[Symbol.asyncIterator]();
    expect((await iterator.next()).value).toEqual({ first: 1 });
    expect(state.pulls).toBeLessThanOrEqual(2);
    await iterator.return(undefined);
    expect(state.cancelled).toBe(true);
  });

  it('yields nothing more once the signal aborts, not even lines already in hand', async () => {
    const controller = new AbortController();
    const reason = new Error('stop');
    const reader = new JsonStreamReader(body(['{"a":1}\n{"b":2}\n{"c":3}\n']).stream, 'ndjson', {
      signal: controller.signal,
    });
    const values: unknown[] = [];
    await expect(async () => {
      for await (const value of reader) {
        values.push(value);
        controller.abort(reason);
      }
    }).rejects.toBe(reason);
    expect(values).toEqual([{ a: 1 }]);
  });

  it('throws the body error as is and does not report a clean end', async () => {
    const cut = Object.assign(new TypeError('terminated'), { cause: { code: 'UND_ERR_SOCKET' } });
    const reader = new JsonStreamReader(body(['{"a":1}\n{"b"'], { failAfter: cut }).stream, 'ndjson');
    const values: unknown[] = [];
    await expect(async () => {
      for await (const value of reader) values.push(value);
    }).rejects.toBe(cut);
    expect(values).toEqual([{ a: 1 }]);
    expect(reader.endedCleanly).toBe(false);
  });
});

describe('JsonStreamReader, SSE', () => {
  it('reads data events, joining several data lines of one event with newlines', async () => {
    const { values, reader } = await readAll('sse', [
      'data: {"a":1}\n\n',
      'data: {"b":\ndata: 2}\n\n',
      'data:{"c":3}\n\n',
      'data: [DONE]\n\n',
    ]);
    expect(values).toEqual([{ a: 1 }, { b: 2 }, { c: 3 }]);
    expect(reader.sawDoneSentinel).toBe(true);
    expect(reader.endedCleanly).toBe(true);
  });

  it('ignores comments, unknown fields and blank lines; handles CRLF and a lone CR', async () => {
    const { values } = await readAll('sse', [
      ': keep-alive\r\n\r\n',
      'id: 7\r\nretry: 1000\r\nevent: message\r\ndata: {"a":1}\r',
      '\n\r\ndata: {"b":2}\r\rdata: [DONE]\r\r',
    ]);
    expect(values).toEqual([{ a: 1 }, { b: 2 }]);
  });

  it('keeps multi-byte characters whole across chunks', async () => {
    const text = 'data: {"t":"你好，世界 🌏"}\r\n\r\ndata: [DONE]\r\n\r\n';
    for (const size of [1, 2, 4]) {
      const { values } = await readAll('sse', bytesOf(text, size));
      expect(values).toEqual([{ t: '你好，世界 🌏' }]);
    }
  });

  it('skips and counts an event whose data is not a JSON object', async () => {
    const { values, reader } = await readAll('sse', [
      'data: {"a":1}\n\ndata: {"oops\n\ndata: "a string"\n\n',
      'data: {"b":2}\n\ndata: [DONE]\n\n',
    ]);
    expect(values).toEqual([{ a: 1 }, { b: 2 }]);
    expect(reader.malformed).toBe(2);
  });

  it('reports a stream that ends without [DONE]: clean end, no sentinel', async () => {
    const { values, reader } = await readAll('sse', ['data: {"a":1}\n\ndata: {"usage":{}}\n']);
    // The last event was not closed by a blank line but is whole: it is read, not lost.
    expect(values).toEqual([{ a: 1 }, { usage: {} }]);
    expect(reader.sawDoneSentinel).toBe(false);
    expect(reader.endedCleanly).toBe(true);
  });

  it('stops at [DONE] and cancels the rest of the body', async () => {
    const { stream, state } = body(['data: {"a":1}\n\ndata: [DONE]\n\n'], { endless: true });
    const reader = new JsonStreamReader(stream, 'sse');
    const values: unknown[] = [];
    for await (const value of reader) values.push(value);
    expect(values).toEqual([{ a: 1 }]);
    expect(state.cancelled).toBe(true);
  });

  it('wraps the payload of a named error event so it reads like an error line', async () => {
    const { values } = await readAll('sse', ['event: error\ndata: {"message":"overloaded"}\n\n']);
    expect(values).toEqual([{ error: { message: 'overloaded' } }]);
  });
});
