import type { Dispatcher } from 'undici';
import { describe, expect, it } from 'vitest';
import { ModelBody } from '../../src/modules/ai/providers/http.js';

/** What undici's controller records: pauses, resumes, the abort's reason. */
function controller() {
  const seen = { pauses: 0, resumes: 0, aborted: undefined as Error | undefined, paused: false };
  const control: Dispatcher.DispatchController = {
    get aborted() {
      return seen.aborted !== undefined;
    },
    get paused() {
      return seen.paused;
    },
    get reason() {
      return seen.aborted ?? null;
    },
    abort(reason) {
      seen.aborted = reason;
    },
    pause() {
      seen.pauses++;
      seen.paused = true;
    },
    resume() {
      seen.resumes++;
      seen.paused = false;
    },
  };
  return { control, seen };
}

const chunk = (i: number) => Buffer.from(`line ${i}\n`);

describe('ModelBody', () => {
  it('hands over chunks in order, whether they came before or after the read', async () => {
    const { control } = controller();
    const body = new ModelBody(control);
    body.push(chunk(0));
    const waiting = body.next().then((read) => read.value?.toString());
    const early = await waiting;
    const late = body.next();
    body.push(chunk(1));
    body.end();
    expect([early, (await late).value?.toString(), (await body.next()).done]).toEqual([
      'line 0\n',
      'line 1\n',
      true,
    ]);
  });

  it('pauses the connection when 64 chunks wait unread, and resumes once they are read', async () => {
    const { control, seen } = controller();
    const body = new ModelBody(control);
    for (let i = 0; i < 63; i++) body.push(chunk(i));
    expect(seen.pauses).toBe(0);
    body.push(chunk(63));
    expect(seen.paused).toBe(true);
    const read: string[] = [];
    for (let i = 0; i < 63; i++) read.push((await body.next()).value!.toString());
    expect(seen.resumes).toBe(0);
    read.push((await body.next()).value!.toString());
    expect(seen.resumes).toBe(1);
    expect(read).toEqual(Array.from({ length: 64 }, (_, i) => `line ${i}\n`));
  });

  it('rejects the read that meets an error, and every read after it', async () => {
    const { control } = controller();
    const body = new ModelBody(control);
    const waiting = body.next();
    const reset = Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' });
    body.fail(reset);
    await expect(waiting).rejects.toBe(reset);
    await expect(body.next()).rejects.toBe(reset);
  });

  it('reads out what came before an error, then the error', async () => {
    const { control } = controller();
    const body = new ModelBody(control);
    body.push(chunk(0));
    body.fail(new Error('cut'));
    expect((await body.next()).value?.toString()).toBe('line 0\n');
    await expect(body.next()).rejects.toThrow('cut');
  });

  it('closes the connection when destroyed before its end, and not after it', async () => {
    const open = controller();
    const cut = new ModelBody(open.control);
    cut.push(chunk(0));
    cut.destroy();
    expect(open.seen.aborted?.message).toBe('the body was destroyed');

    const whole = controller();
    const ended = new ModelBody(whole.control);
    ended.end();
    ended.destroy();
    expect(whole.seen.aborted).toBeUndefined();
    expect((await ended.next()).done).toBe(true);
  });

  it('stops the body when a for-await loop breaks out of it', async () => {
    const { control, seen } = controller();
    const body = new ModelBody(control);
    body.push(chunk(0));
    body.push(chunk(1));
    for await (const read of body) {
      expect(read.toString()).toBe('line 0\n');
      break;
    }
    expect(seen.aborted).toBeDefined();
  });

  it('reads a whole body as text and as JSON', async () => {
    const { control } = controller();
    const body = new ModelBody(control);
    // A two-byte character split across chunks is decoded whole.
    const bytes = Buffer.from('{"models":[{"name":"glm4 — 中"}]}');
    const cut = bytes.indexOf(Buffer.from('中')) + 1;
    body.push(bytes.subarray(0, cut));
    body.push(bytes.subarray(cut));
    body.end();
    expect(await body.json()).toEqual({ models: [{ name: 'glm4 — 中' }] });
  });
});
