import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { type AttemptDeps, callProvider } from '../../src/modules/ai/attempt.js';
import type { AliasSpec } from '../../src/modules/ai/config.js';
import { Dispatcher } from '../../src/modules/ai/dispatcher.js';
import {
  type Provider,
  ProviderError,
  type ProviderEvent,
  type ProviderRequest,
} from '../../src/modules/ai/providers/types.js';

const alias: AliasSpec = {
  name: 'default',
  provider: 'main',
  model: 'm',
  params: {},
  fallback: [],
  canContinue: false,
};

function deps(): AttemptDeps {
  return {
    config: {
      timeouts: { connectMs: 1000, firstTokenMs: 1000, idleMs: 1000, totalMs: 5000 },
      providers: [
        { name: 'main', kind: 'ollama', concurrency: 1 } as AttemptDeps['config']['providers'][number],
      ],
    },
    dispatcher: new Dispatcher({ maxQueue: 10, perUser: 10 }),
    clock: systemClock,
  };
}

const DONE: ProviderEvent = {
  type: 'done',
  model: 'm',
  usage: { promptTokens: 1, completionTokens: 3 },
  finishReason: 'stop',
};

/**
 * A provider double in the two shapes a real one may take: handing tokens to `onToken` (the
 * HTTP adapters) or yielding them as events (one that ignores it). As the adapters do, it
 * checks its signal between tokens and takes any other error for a broken stream.
 */
function provider(shape: 'handed' | 'yielded', seen: { signal?: AbortSignal } = {}): Provider {
  return {
    kind: 'double',
    async *stream(request: ProviderRequest) {
      seen.signal = request.signal;
      yield { type: 'open' };
      try {
        for (const text of ['one', ' two', ' three']) {
          await Promise.resolve();
          request.signal.throwIfAborted();
          if (shape === 'handed' && request.onToken) request.onToken(text);
          else yield { type: 'token', text };
        }
      } catch (error) {
        if (request.signal.aborted) throw request.signal.reason;
        throw new ProviderError('stream', 'the stream was cut', { cause: error });
      }
      yield DONE;
    },
    status: async () => ({ ok: true, message: 'up' }),
  };
}

function input(p: Provider, onToken: (text: string) => void) {
  return {
    alias,
    provider: p,
    messages: [{ role: 'user' as const, content: 'count' }],
    params: {},
    prefill: '',
    signal: new AbortController().signal,
    deadline: Date.now() + 5000,
    onToken,
  };
}

describe('callProvider', () => {
  it.each(['handed', 'yielded'] as const)('relays tokens a provider %s, in order', async (shape) => {
    const tokens: string[] = [];
    const result = await callProvider(
      deps(),
      input(provider(shape), (text) => tokens.push(text)),
    );
    expect(tokens).toEqual(['one', ' two', ' three']);
    expect(result).toMatchObject({ model: 'm', finishReason: 'stop' });
  });

  it('fails with the token handler’s own error, stopping the provider, not as a broken stream', async () => {
    const seen: { signal?: AbortSignal } = {};
    const failure = new Error('the reader broke');
    let calls = 0;
    const attempt = callProvider(
      deps(),
      input(provider('handed', seen), () => {
        if (++calls === 2) throw failure;
      }),
    );
    await expect(attempt).rejects.toBe(failure);
    expect(calls).toBe(2);
    expect(seen.signal?.aborted).toBe(true);
  });
});
