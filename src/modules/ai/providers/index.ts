import type { ProviderSpec } from '../config.js';
import { LlamaCppProvider } from './llamacpp.js';
import { OllamaProvider } from './ollama.js';
import { OpenAiProvider } from './openai.js';
import type { Provider } from './types.js';

/** The adapter for a configured provider; `log` receives what an in-process model reports. */
export function createProvider(
  spec: ProviderSpec,
  log?: { warn(object: object, message: string): void },
): Provider {
  switch (spec.kind) {
    case 'ollama':
      return new OllamaProvider({ baseUrl: spec.baseUrl, keepAlive: spec.keepAlive });
    case 'openai':
      return new OpenAiProvider({ baseUrl: spec.baseUrl, apiKey: spec.apiKey });
    case 'llamacpp':
      // config.ts refuses a llamacpp provider without a file, so modelPath is set here.
      return new LlamaCppProvider({
        modelPath: spec.modelPath ?? '',
        concurrency: spec.concurrency,
        // Into the app's JSON log, not the console.
        ...(log
          ? {
              log: (level: string, message: string) =>
                log.warn({ level, provider: spec.name }, `llama.cpp: ${message}`),
            }
          : {}),
      });
  }
}
