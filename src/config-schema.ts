import { type Static, type TSchema, Type } from 'typebox';

// Every environment variable Inkstone reads, declared once. `loadConfig` (config.ts) parses
// them; `npm run config:docs` (config-docs.ts) writes `.env.example` and the README table
// from the same declarations, and a test fails when those two are out of date.
//
// Two annotations go beyond JSON Schema:
// - `defaultText`: a default that depends on other variables, shown in the docs (Markdown)
//   where `default` would be; the rule itself lives in loadConfig.
// - `secret`: the value never appears in an error message (it would reach the logs).

/** PostgreSQL pool and timeouts, and SQLite's busy wait: applied in createDb. */
export interface DatabaseLimits {
  poolMax: number;
  connectTimeoutMs: number;
  statementTimeoutMs: number;
  lockTimeoutMs: number;
  busyTimeoutMs: number;
  /** Queries slower than this are logged (SQL text only); 0: none. */
  slowQueryMs: number;
}

// Named because createDb applies them too: a DatabaseConfig written by hand (tests, scripts)
// gets the same values as one read from the environment.
export const DATABASE_DEFAULTS: DatabaseLimits = {
  poolMax: 10,
  connectTimeoutMs: 5000,
  // Well under HTTP_REQUEST_TIMEOUT_MS, so a query stuck behind a lock answers 503 with
  // Retry-After instead of holding the request until the socket times out.
  statementTimeoutMs: 15_000,
  lockTimeoutMs: 5000,
  busyTimeoutMs: 5000,
  // Pages take a few ms of queries each; a query of 200 ms is a missing index or a lock.
  slowQueryMs: 200,
};

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const Server = Type.Object({
  NODE_ENV: Type.Enum(['development', 'production', 'test'], {
    default: 'development',
    description: '`production` requires `SESSION_SECRET` and makes cookies `Secure`',
  }),
  HOST: Type.String({ default: '127.0.0.1', description: 'address to listen on' }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000, description: 'port to listen on' }),
  PUBLIC_URL: Type.Optional(
    Type.String({
      defaultText: '`http://HOST:PORT`',
      description: 'the address readers use; canonical URLs, feeds, sitemap',
    }),
  ),
  TRUST_PROXY: Type.Boolean({
    default: false,
    description: 'trust `X-Forwarded-*` from a proxy in front (for client IPs)',
  }),
  LOG_LEVEL: Type.Optional(
    Type.Enum(LOG_LEVELS, {
      defaultText: '`info` (`silent` in tests)',
      description: '`fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`',
    }),
  ),
  LOG_PRETTY: Type.Optional(
    Type.Boolean({
      defaultText: 'unset → pretty when stdout is a terminal',
      description:
        'in development, readable log lines (pino-pretty, a devDependency) instead of JSON; `false` keeps JSON. JSON in other environments',
    }),
  ),
});

const Database = Type.Object({
  DATABASE_URL: Type.Optional(
    Type.String({
      defaultText: 'unset → `./data/inkstone.db`',
      description: '`sqlite:PATH`, or `postgres://user@host:5432/db` (optional `?schema=NAME`)',
    }),
  ),
  DATABASE_POOL_MAX: Type.Integer({
    minimum: 1,
    maximum: 1000,
    default: DATABASE_DEFAULTS.poolMax,
    description: 'PostgreSQL: most connections open at once',
  }),
  DATABASE_CONNECT_TIMEOUT_MS: Type.Integer({
    minimum: 100,
    maximum: 120_000,
    default: DATABASE_DEFAULTS.connectTimeoutMs,
    description: 'PostgreSQL: give up connecting after this many ms (→ 503)',
  }),
  DATABASE_STATEMENT_TIMEOUT_MS: Type.Integer({
    minimum: 0,
    maximum: 3_600_000,
    default: DATABASE_DEFAULTS.statementTimeoutMs,
    description:
      'PostgreSQL: cancel a query after this many ms (→ 503); `0` = never, e.g. for a long migration',
  }),
  DATABASE_LOCK_TIMEOUT_MS: Type.Integer({
    minimum: 0,
    maximum: 3_600_000,
    default: DATABASE_DEFAULTS.lockTimeoutMs,
    description: 'PostgreSQL: stop waiting for a lock after this many ms (→ 503); `0` = never',
  }),
  SQLITE_BUSY_TIMEOUT_MS: Type.Integer({
    minimum: 0,
    maximum: 600_000,
    default: DATABASE_DEFAULTS.busyTimeoutMs,
    description: "SQLite: how long a write waits for another writer's lock (then 503)",
  }),
  DATABASE_SLOW_QUERY_MS: Type.Integer({
    minimum: 0,
    maximum: 3_600_000,
    default: DATABASE_DEFAULTS.slowQueryMs,
    description:
      'log a warning with the SQL text (never its parameters) for queries slower than this many ms; `0` = off',
  }),
});

const Security = Type.Object({
  SESSION_SECRET: Type.Optional(
    Type.String({
      minLength: 32,
      secret: true,
      defaultText: 'a fixed value outside production',
      description: 'signs cookies; 32+ random characters (`openssl rand -base64 48`); required in production',
    }),
  ),
  COOKIE_SECURE: Type.Optional(
    Type.Boolean({ defaultText: '`true` in production', description: 'send cookies over HTTPS only' }),
  ),
  LOGIN_MAX_PER_IP: Type.Integer({
    minimum: 1,
    maximum: 1_000_000,
    default: 30,
    description: 'failed sign-ins per IP per window before 429',
  }),
  LOGIN_MAX_PER_ACCOUNT: Type.Integer({
    minimum: 1,
    maximum: 1_000_000,
    default: 8,
    description: 'failed sign-ins per account per window before 429',
  }),
  LOGIN_WINDOW_SECONDS: Type.Integer({
    minimum: 1,
    maximum: 604_800,
    default: 900,
    description: 'the window for both limits, in seconds',
  }),
});

const Http = Type.Object({
  BODY_LIMIT: Type.Integer({
    minimum: 1024,
    maximum: 1024 ** 3,
    default: 1024 * 1024,
    description: 'largest request body in bytes (larger → 413)',
  }),
  HTTP_REQUEST_TIMEOUT_MS: Type.Integer({
    minimum: 1000,
    maximum: 3_600_000,
    default: 60_000,
    description: 'drop a client that has not sent its whole request after this many ms',
  }),
  HTTP_HEADERS_TIMEOUT_MS: Type.Integer({
    minimum: 1000,
    maximum: 3_600_000,
    default: 20_000,
    description:
      'drop a client that has not sent its headers after this many ms; at most `HTTP_REQUEST_TIMEOUT_MS`',
  }),
  HTTP_KEEP_ALIVE_TIMEOUT_MS: Type.Integer({
    minimum: 100,
    maximum: 600_000,
    default: 5000,
    description: "close an idle connection after this many ms; behind a proxy, exceed the proxy's",
  }),
  SHUTDOWN_TIMEOUT_MS: Type.Integer({
    minimum: 100,
    maximum: 600_000,
    default: 10_000,
    description: 'on SIGTERM or SIGINT, exit anyway after this many ms if requests are still open',
  }),
  // Off in tests unless set: a suite that blocks the loop on purpose must not make another
  // suite's requests in the same process answer 503.
  OVERLOAD_EVENT_LOOP_DELAY_MS: Type.Optional(
    Type.Integer({
      minimum: 0,
      maximum: 60_000,
      defaultText: '`1000` (`0` in tests)',
      description:
        'overload: above this mean event-loop delay, expensive requests get 503 (cached pages still served); `0` = off',
    }),
  ),
  OVERLOAD_HEAP_PERCENT: Type.Optional(
    Type.Integer({
      minimum: 0,
      maximum: 100,
      defaultText: '`90` (`0` in tests)',
      description: "overload: the same above this share of V8's heap limit in use; `0` = off",
    }),
  ),
  OVERLOAD_RSS_MB: Type.Integer({
    minimum: 0,
    maximum: 1_048_576,
    default: 0,
    description:
      "overload: the same above this resident memory, in MiB (e.g. under a container's limit); `0` = off",
  }),
  OVERLOAD_RETRY_AFTER_SECONDS: Type.Integer({
    minimum: 1,
    maximum: 3600,
    default: 10,
    description: '`Retry-After` of a request refused under overload',
  }),
});

const ms = (fallback: number, max: number, description: string) =>
  Type.Integer({ minimum: 100, maximum: max, default: fallback, description });

const Ai = Type.Object({
  AI_PROVIDER: Type.Enum(['ollama', 'openai', 'llamacpp', 'none'], {
    default: 'ollama',
    description:
      'the model server: `ollama`, `openai` (any OpenAI-compatible server), `llamacpp` (a GGUF file in-process) or `none`',
  }),
  AI_BASE_URL: Type.Optional(
    Type.String({
      defaultText: '`http://127.0.0.1:11434` (ollama), `https://api.openai.com/v1` (openai)',
      description: 'where the model server listens; for openai, the URL that ends in `/v1`',
    }),
  ),
  AI_API_KEY: Type.Optional(
    Type.String({
      secret: true,
      defaultText: 'none',
      description: 'the key for an openai server that needs one',
    }),
  ),
  AI_MODEL: Type.String({
    default: 'glm4',
    description: 'the model the `default` alias uses (for llamacpp: a name to report)',
  }),
  AI_MODEL_PATH: Type.Optional(
    Type.String({
      defaultText: 'none',
      description: 'llamacpp: the GGUF file (`npx inkstone model pull URL` downloads one)',
    }),
  ),
  AI_KEEP_ALIVE: Type.String({
    default: '5m',
    description: 'ollama: how long the server keeps the model loaded after a request',
  }),
  AI_MODELS_FILE: Type.Optional(
    Type.String({
      defaultText: 'none',
      description:
        'a JSON file of providers, model aliases (params, fallback chain) and routing rules; see the README',
    }),
  ),
  AI_CONCURRENCY: Type.Integer({
    minimum: 1,
    maximum: 1024,
    default: 4,
    description:
      "generations in flight per provider: match the server's parallel slots (`OLLAMA_NUM_PARALLEL`)",
  }),
  AI_MAX_QUEUE: Type.Integer({
    minimum: 0,
    maximum: 100_000,
    default: 100,
    description: 'generations waiting for a slot before new ones get 503 with `Retry-After`',
  }),
  AI_USER_CONCURRENCY: Type.Integer({
    minimum: 1,
    maximum: 1000,
    default: 3,
    description: 'generations one user may have running or waiting at once (more → 429)',
  }),
  AI_REQUESTS_PER_MINUTE: Type.Integer({
    minimum: 1,
    maximum: 1_000_000,
    default: 30,
    description: 'AI requests per user per minute (a token bucket; more → 429 with `Retry-After`)',
  }),
  AI_TOKENS_PER_DAY: Type.Integer({
    minimum: 1,
    maximum: 1_000_000_000,
    default: 200_000,
    description: 'model tokens (prompt + answer) per user per UTC day',
  }),
  AI_CACHE_TTL_SECONDS: Type.Integer({
    minimum: 0,
    maximum: 31_536_000,
    default: 3600,
    description: 'how long a complete answer is replayed for the same request; `0` turns the cache off',
  }),
  AI_CONNECT_TIMEOUT_MS: ms(
    5000,
    600_000,
    'give up on a model server that has not answered after this many ms',
  ),
  AI_FIRST_TOKEN_TIMEOUT_MS: ms(
    60_000,
    3_600_000,
    'give up on an answer whose first token has not come after this many ms (loading a model is slow)',
  ),
  AI_IDLE_TIMEOUT_MS: ms(30_000, 3_600_000, 'give up on a stream silent for this many ms between tokens'),
  AI_TOTAL_TIMEOUT_MS: ms(300_000, 86_400_000, 'give up on an answer that takes longer than this in all'),
  AI_RETRIES: Type.Integer({
    minimum: 0,
    maximum: 10,
    default: 2,
    description:
      'retries of a failed call (connection errors, timeouts, 408, 429, 5xx only) before the fallback',
  }),
  AI_RETRY_MAX_DELAY_MS: ms(
    10_000,
    600_000,
    'longest wait before a retry, including a `Retry-After` the server asks for',
  ),
  AI_BREAKER_FAILURES: Type.Integer({
    minimum: 1,
    maximum: 1000,
    default: 5,
    description:
      "failures in a row that open a provider's circuit (then its requests go to the fallback at once)",
  }),
  AI_BREAKER_HALF_OPEN_MS: ms(
    10_000,
    3_600_000,
    'after this many ms an open circuit lets one probe request through',
  ),
});

const Redis = Type.Object({
  REDIS_URL: Type.Optional(
    Type.String({
      secret: true,
      defaultText: 'unset → each instance on its own',
      description:
        '`redis://host:6379/0` (`rediss://` for TLS): AI limits, generation cache and the job queue shared by every instance',
    }),
  ),
  REDIS_PREFIX: Type.String({
    default: 'inkstone:',
    description: 'starts every key Inkstone writes, so several sites can share one Redis',
  }),
});

const Webhooks = Type.Object({
  WEBHOOK_ALLOW_HOSTS: Type.Optional(
    Type.String({
      defaultText: 'none: private, loopback and link-local addresses are refused',
      description:
        'comma-separated `host`, `host:port`, IPs or CIDRs (`10.1.0.0/16`) that job callbacks may reach although private',
    }),
  ),
  WEBHOOK_ATTEMPTS: Type.Integer({
    minimum: 1,
    maximum: 20,
    default: 5,
    description: 'tries of a job callback in all, the first included, with exponential backoff between them',
  }),
  WEBHOOK_TIMEOUT_MS: ms(
    10_000,
    120_000,
    'give up on one callback attempt (DNS, redirects, answer) after this many ms',
  ),
});

const Jobs = Type.Object({
  AI_WORKER_CONCURRENCY: Type.Integer({
    minimum: 1,
    maximum: 1024,
    default: 4,
    description: 'with `REDIS_URL`: jobs one `inkstone worker` runs at once',
  }),
  AI_WEB_WORKER_CONCURRENCY: Type.Optional(
    Type.Integer({
      minimum: 0,
      maximum: 1024,
      defaultText: '`AI_WORKER_CONCURRENCY`',
      description:
        'with `REDIS_URL`: jobs the web process runs itself; `0` = it only queues them for `inkstone worker`',
    }),
  ),
  AI_JOB_LOCK_MS: ms(
    30_000,
    3_600_000,
    'a job whose worker has not renewed its lock for this long (it crashed) is restarted by another worker; checked as often',
  ),
  AI_JOB_MAX_RESTARTS: Type.Integer({
    minimum: 0,
    maximum: 100,
    default: 1,
    description: 'times a job whose worker died is started again before it fails',
  }),
});

const Cache = Type.Object({
  PAGE_CACHE_TTL_SECONDS: Type.Integer({
    minimum: 0,
    maximum: 86_400,
    default: 60,
    description:
      "seconds an anonymous reader's page is cached, here and by shared caches (`s-maxage`); `0` = off",
  }),
  PAGE_CACHE_STALE_SECONDS: Type.Integer({
    minimum: 0,
    maximum: 86_400,
    default: 30,
    description: '`stale-while-revalidate` for shared caches (a CDN or nginx) in front of Inkstone',
  }),
  QUERY_CACHE_TTL_SECONDS: Type.Integer({
    minimum: 0,
    maximum: 86_400,
    default: 60,
    description:
      'seconds the hot reads (post lists, posts, comments, profiles, sessions) are cached between writes; `0` = off',
  }),
  CACHE_MEMORY_MAX_MB: Type.Integer({
    minimum: 1,
    maximum: 65_536,
    default: 64,
    description:
      'in-process cache bound in MiB (L1, least recently used out; the query cache adds up to ¼ as objects)',
  }),
  PAGE_PURGE_URL: Type.Optional(
    Type.String({
      defaultText: 'unset → no purge',
      description:
        "where writes tell a CDN or nginx which pages changed: the endpoint (`json`) or the base of each page's URL (`purge`)",
    }),
  ),
  PAGE_PURGE_STYLE: Type.Enum(['json', 'purge'], {
    default: 'json',
    description:
      '`json`: one `POST` of `{"urls": [...], "tags": [...]}`; `purge`: a `PURGE` per page (nginx cache_purge, Varnish)',
  }),
  PAGE_PURGE_HEADER: Type.Optional(
    Type.String({
      secret: true,
      defaultText: 'none',
      description:
        'a header sent with every purge request, as `Name: value` (e.g. `Authorization: Bearer …`)',
    }),
  ),
});

const Metrics = Type.Object({
  METRICS_PORT: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: 65535,
      defaultText: 'unset → no metrics port',
      description:
        'serve Prometheus `/metrics` on this second port (on `HOST`); with `--workers N` the primary answers it for every worker',
    }),
  ),
  METRICS_TOKEN: Type.Optional(
    Type.String({
      minLength: 16,
      secret: true,
      defaultText: 'unset → not on the main port',
      description: 'serve `/metrics` on the main port too, to requests with `Authorization: Bearer <token>`',
    }),
  ),
});

// OpenTelemetry's own variable names, so a collector set up for other services works as is.
const Tracing = Type.Object({
  OTEL_EXPORTER_OTLP_ENDPOINT: Type.Optional(
    Type.String({
      defaultText: 'unset → no trace export (`traceparent` is still passed on)',
      description:
        'OTLP/HTTP collector base URL (spans are POSTed as JSON to `<url>/v1/traces`), e.g. `http://127.0.0.1:4318`',
    }),
  ),
  OTEL_SERVICE_NAME: Type.String({
    minLength: 1,
    default: 'inkstone',
    description: "the traces' `service.name`",
  }),
});

/** Sections in the order `.env.example` and the README list them. */
export const CONFIG_SECTIONS = {
  Server,
  Database,
  Security,
  'HTTP limits': Http,
  'AI writing': Ai,
  Cache,
  Redis,
  'Queue and workers': Jobs,
  Webhooks,
  Metrics,
  Tracing,
};

export const EnvSchema = Type.Object({
  ...Server.properties,
  ...Database.properties,
  ...Security.properties,
  ...Http.properties,
  ...Ai.properties,
  ...Cache.properties,
  ...Redis.properties,
  ...Jobs.properties,
  ...Webhooks.properties,
  ...Metrics.properties,
  ...Tracing.properties,
});

/** The environment after parsing: each variable as its type, defaults applied. */
export type Env = Static<typeof EnvSchema>;

/** The keywords loadConfig and the docs read from one variable's schema. */
export interface VariableSchema extends TSchema {
  type?: string;
  enum?: readonly (string | number)[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  default?: unknown;
  defaultText?: string;
  secret?: boolean;
  description?: string;
}

export function variablesOf(section: { properties: Record<string, TSchema> }): [string, VariableSchema][] {
  return Object.entries(section.properties);
}
