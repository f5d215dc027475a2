import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { Dispatcher } from '../../src/modules/ai/dispatcher.js';
import { ModelRouter } from '../../src/modules/ai/router.js';
import { systemClock } from '../../src/clock.js';

const dir = mkdtempSync(join(tmpdir(), 'inkstone-ai-config-'));
function modelsFile(content: unknown): string {
  const file = join(dir, `${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

describe('AI configuration', () => {
  it('defaults to Ollama on 127.0.0.1:11434 with glm4 as the default alias', () => {
    const { ai } = loadConfig({});
    expect(ai.enabled).toBe(true);
    expect(ai.providers).toEqual([
      expect.objectContaining({
        name: 'main',
        kind: 'ollama',
        baseUrl: 'http://127.0.0.1:11434',
        concurrency: 4,
      }),
    ]);
    expect(ai.aliases).toEqual([
      expect.objectContaining({ name: 'default', provider: 'main', model: 'glm4' }),
    ]);
    expect(ai.cacheTtlMs).toBe(3_600_000);
  });

  it('turns the assistant off with AI_PROVIDER=none', () => {
    expect(loadConfig({ AI_PROVIDER: 'none' }).ai.enabled).toBe(false);
  });

  it('reads providers, aliases with fallbacks and routing rules from AI_MODELS_FILE, keys from the environment', () => {
    const file = modelsFile({
      providers: { cloud: { kind: 'openai', baseUrl: 'https://example.test/v1', apiKeyEnv: 'CLOUD_KEY' } },
      aliases: {
        default: { provider: 'main', model: 'glm4', fallback: ['hard'], contextTokens: 8192 },
        hard: { provider: 'cloud', model: 'glm-4-plus', params: { temperature: 0.2 }, canContinue: false },
      },
      routes: [{ when: { minPromptChars: 6000 }, use: 'hard' }],
    });
    const { ai } = loadConfig({ AI_MODELS_FILE: file, CLOUD_KEY: 'sk-secret' });
    expect(ai.providers.find((p) => p.name === 'cloud')).toMatchObject({
      kind: 'openai',
      apiKey: 'sk-secret',
    });
    expect(ai.aliases.find((a) => a.name === 'hard')).toMatchObject({
      params: { temperature: 0.2 },
      canContinue: false,
    });

    const router = new ModelRouter({
      config: ai,
      providers: new Map(),
      dispatcher: new Dispatcher({ maxQueue: 1, perUser: 1 }),
      clock: systemClock,
    });
    const short = [{ role: 'user' as const, content: 'hi' }];
    const long = [{ role: 'user' as const, content: 'x'.repeat(6000) }];
    expect(router.resolve('draft', short)?.name).toBe('default');
    expect(router.resolve('draft', long)?.name).toBe('hard');
    expect(router.resolve('draft', long, 'default')?.name).toBe('default');
    expect(router.resolve('draft', short, 'nope')).toBeUndefined();
    expect(router.chain(router.resolve('draft', short)!).map((a) => a.name)).toEqual(['default', 'hard']);
  });

  it('names every problem in the models file', () => {
    const file = modelsFile({
      providers: { cloud: { kind: 'openai', apiKeyEnv: 'MISSING_KEY' } },
      aliases: { default: { provider: 'nowhere', model: 'x', fallback: ['ghost'] } },
      routes: [{ when: { kinds: ['draft'] }, use: 'phantom' }],
    });
    try {
      loadConfig({ AI_MODELS_FILE: file });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const text = (error as Error).message;
      expect(text).toContain('needs MISSING_KEY set');
      expect(text).toContain('names provider nowhere');
      expect(text).toContain('falls back to unknown alias ghost');
      expect(text).toContain('uses unknown alias phantom');
    }
    expect(() => loadConfig({ AI_MODELS_FILE: modelsFile('{not json') })).toThrow(/cannot be read as JSON/);
    expect(() => loadConfig({ AI_MODELS_FILE: modelsFile({ aliases: { x: { model: 1 } } }) })).toThrow(
      /AI_MODELS_FILE/,
    );
    expect(() => loadConfig({ AI_PROVIDER: 'llamacpp' })).toThrow(/needs a GGUF file: set AI_MODEL_PATH/);
  });

  it('keeps the API key out of every configuration error', () => {
    try {
      loadConfig({ AI_API_KEY: 'sk-very-secret', AI_CONCURRENCY: 'many' });
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).toContain('AI_CONCURRENCY');
      expect((error as Error).message).not.toContain('sk-very-secret');
    }
  });
});
