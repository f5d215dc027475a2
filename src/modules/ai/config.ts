import { readFileSync } from 'node:fs';
import { type Static, Type } from 'typebox';
import { Value } from 'typebox/value';
import type { Env } from '../../config-schema.js';
import type { GenerateParams } from './providers/types.js';

export type ProviderKind = 'ollama' | 'openai' | 'llamacpp';

export interface ProviderSpec {
  name: string;
  kind: ProviderKind;
  baseUrl?: string;
  /** Kept on the server: never in a page, a response or a log line. */
  apiKey?: string;
  modelPath?: string;
  /** Calls in flight at once: the server's parallel slots. */
  concurrency: number;
  keepAlive?: string;
}

export interface AliasSpec {
  name: string;
  provider: string;
  model: string;
  params: GenerateParams;
  /** Aliases to try, in order, when this one fails. */
  fallback: string[];
  /** Whether this alias may continue a partial answer given as an assistant prefill. */
  canContinue: boolean;
  /** The model's context window in tokens, if known: a context-length error moves to a larger one. */
  contextTokens?: number;
}

export interface RouteRule {
  /** Requests whose prompt has at least this many characters… */
  minPromptChars?: number;
  /** …or of one of these kinds (draft, continue, rewrite, …)… */
  kinds?: string[];
  /** …go to this alias. */
  use: string;
}

export interface AiConfig {
  enabled: boolean;
  providers: ProviderSpec[];
  aliases: AliasSpec[];
  routes: RouteRule[];
  limits: {
    maxQueue: number;
    perUser: number;
    requestsPerMinute: number;
    tokensPerDay: number;
  };
  cacheTtlMs: number;
  timeouts: { connectMs: number; firstTokenMs: number; idleMs: number; totalMs: number };
  retry: { attempts: number; maxDelayMs: number };
  breaker: { failures: number; halfOpenMs: number };
}

const Params = Type.Object(
  {
    temperature: Type.Optional(Type.Number({ minimum: 0, maximum: 2 })),
    topP: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    maxTokens: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
    seed: Type.Optional(Type.Integer()),
    stop: Type.Optional(Type.Array(Type.String(), { maxItems: 8 })),
  },
  { additionalProperties: false },
);

const ModelsFile = Type.Object(
  {
    providers: Type.Optional(
      Type.Record(
        Type.String(),
        Type.Object(
          {
            kind: Type.Enum(['ollama', 'openai', 'llamacpp']),
            baseUrl: Type.Optional(Type.String({ minLength: 1 })),
            /** The name of an environment variable holding the key: keys stay out of files. */
            apiKeyEnv: Type.Optional(Type.String()),
            modelPath: Type.Optional(Type.String()),
            concurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 1024 })),
            keepAlive: Type.Optional(Type.String()),
          },
          { additionalProperties: false },
        ),
      ),
    ),
    aliases: Type.Optional(
      Type.Record(
        Type.String(),
        Type.Object(
          {
            provider: Type.String(),
            model: Type.String({ minLength: 1 }),
            params: Type.Optional(Params),
            fallback: Type.Optional(Type.Array(Type.String())),
            canContinue: Type.Optional(Type.Boolean()),
            contextTokens: Type.Optional(Type.Integer({ minimum: 1 })),
          },
          { additionalProperties: false },
        ),
      ),
    ),
    routes: Type.Optional(
      Type.Array(
        Type.Object(
          {
            when: Type.Object(
              {
                minPromptChars: Type.Optional(Type.Integer({ minimum: 0 })),
                kinds: Type.Optional(Type.Array(Type.String())),
              },
              { additionalProperties: false },
            ),
            use: Type.String(),
          },
          { additionalProperties: false },
        ),
      ),
    ),
  },
  { additionalProperties: false },
);
type ModelsFile = Static<typeof ModelsFile>;

const DEFAULT_URLS: Partial<Record<ProviderKind, string>> = {
  ollama: 'http://127.0.0.1:11434',
  openai: 'https://api.openai.com/v1',
};

function readModelsFile(path: string, problems: string[]): ModelsFile {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    problems.push(`AI_MODELS_FILE ${path} cannot be read as JSON: ${(error as Error).message}`);
    return {};
  }
  if (Value.Check(ModelsFile, data)) return data;
  for (const error of [...Value.Errors(ModelsFile, data)].slice(0, 5)) {
    problems.push(`AI_MODELS_FILE ${path}: ${error.instancePath || '(top)'} ${error.message}`);
  }
  return {};
}

/** The AI part of the configuration: the environment's one provider, plus AI_MODELS_FILE. */
export function aiConfig(env: Env, raw: Record<string, string | undefined>, problems: string[]): AiConfig {
  const providers = new Map<string, ProviderSpec>();
  const aliases = new Map<string, AliasSpec>();
  if (env.AI_PROVIDER !== 'none') {
    const kind = env.AI_PROVIDER;
    providers.set('main', {
      name: 'main',
      kind,
      baseUrl: env.AI_BASE_URL ?? DEFAULT_URLS[kind],
      apiKey: env.AI_API_KEY,
      modelPath: env.AI_MODEL_PATH,
      concurrency: env.AI_CONCURRENCY,
      keepAlive: env.AI_KEEP_ALIVE,
    });
    aliases.set('default', {
      name: 'default',
      provider: 'main',
      model: env.AI_MODEL,
      params: {},
      fallback: [],
      canContinue: true,
    });
  }
  const file = env.AI_MODELS_FILE ? readModelsFile(env.AI_MODELS_FILE, problems) : {};
  for (const [name, spec] of Object.entries(file.providers ?? {})) {
    const apiKey = spec.apiKeyEnv ? raw[spec.apiKeyEnv] : undefined;
    if (spec.apiKeyEnv && !apiKey)
      problems.push(`AI_MODELS_FILE: provider ${name} needs ${spec.apiKeyEnv} set`);
    providers.set(name, {
      name,
      kind: spec.kind,
      baseUrl: spec.baseUrl ?? DEFAULT_URLS[spec.kind],
      apiKey,
      modelPath: spec.modelPath,
      concurrency: spec.concurrency ?? env.AI_CONCURRENCY,
      keepAlive: spec.keepAlive ?? env.AI_KEEP_ALIVE,
    });
  }
  for (const [name, spec] of Object.entries(file.aliases ?? {})) {
    aliases.set(name, {
      name,
      provider: spec.provider,
      model: spec.model,
      params: spec.params ?? {},
      fallback: spec.fallback ?? [],
      canContinue: spec.canContinue ?? true,
      contextTokens: spec.contextTokens,
    });
  }
  const routes = (file.routes ?? []).map((rule) => ({ ...rule.when, use: rule.use }));
  for (const alias of aliases.values()) {
    if (!providers.has(alias.provider)) {
      problems.push(`AI model alias ${alias.name} names provider ${alias.provider}, which is not configured`);
    }
    for (const next of alias.fallback) {
      if (!aliases.has(next))
        problems.push(`AI model alias ${alias.name} falls back to unknown alias ${next}`);
    }
  }
  for (const rule of routes) {
    if (!aliases.has(rule.use)) problems.push(`AI routing rule uses unknown alias ${rule.use}`);
  }
  if (providers.size > 0 && !aliases.has('default')) {
    problems.push('AI_MODELS_FILE must define a "default" alias when AI_PROVIDER is none');
  }
  for (const provider of providers.values()) {
    if (provider.kind === 'llamacpp' && !provider.modelPath) {
      problems.push(`AI provider ${provider.name} (llamacpp) needs a GGUF file: set AI_MODEL_PATH`);
    }
  }
  return {
    enabled: providers.size > 0,
    providers: [...providers.values()],
    aliases: [...aliases.values()],
    routes,
    limits: {
      maxQueue: env.AI_MAX_QUEUE,
      perUser: env.AI_USER_CONCURRENCY,
      requestsPerMinute: env.AI_REQUESTS_PER_MINUTE,
      tokensPerDay: env.AI_TOKENS_PER_DAY,
    },
    cacheTtlMs: env.AI_CACHE_TTL_SECONDS * 1000,
    timeouts: {
      connectMs: env.AI_CONNECT_TIMEOUT_MS,
      firstTokenMs: env.AI_FIRST_TOKEN_TIMEOUT_MS,
      idleMs: env.AI_IDLE_TIMEOUT_MS,
      totalMs: env.AI_TOTAL_TIMEOUT_MS,
    },
    retry: { attempts: env.AI_RETRIES, maxDelayMs: env.AI_RETRY_MAX_DELAY_MS },
    breaker: { failures: env.AI_BREAKER_FAILURES, halfOpenMs: env.AI_BREAKER_HALF_OPEN_MS },
  };
}
