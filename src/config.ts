import type { PurgeConfig } from './cache/purge.js';
import { type AiConfig, aiConfig } from './modules/ai/config.js';
import { parseAllowHosts } from './modules/ai/webhook-guard.js';
import type { TracingConfig } from './tracing/tracing.js';
import { resolve } from 'node:path';
import { Value } from 'typebox/value';
import {
  type DatabaseLimits,
  type Env,
  EnvSchema,
  type VariableSchema,
  variablesOf,
} from './config-schema.js';

export type DatabaseConfig = (
  { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string; schema?: string }
) & {
  /** Only what the environment set; createDb fills in the rest from DATABASE_DEFAULTS. */
  limits?: Partial<DatabaseLimits>;
};

export interface Config {
  env: 'development' | 'production' | 'test';
  host: string;
  port: number;
  publicUrl: string;
  database: DatabaseConfig;
  sessionSecret: string;
  cookieSecure: boolean;
  trustProxy: boolean;
  logLevel: string;
  /** LOG_PRETTY: true or false as set; undefined lets the logger decide (pretty on a terminal, in development). */
  logPretty?: boolean;
  /** Largest request body accepted, in bytes; larger gets 413. */
  bodyLimit: number;
  login: { maxPerIp: number; maxPerAccount: number; windowSeconds: number };
  http: { requestTimeoutMs: number; headersTimeoutMs: number; keepAliveTimeoutMs: number };
  /** After SIGTERM/SIGINT, how long open requests may take before the process exits anyway. */
  shutdownTimeoutMs: number;
  /** Load shedding (src/http/pressure.ts); each threshold 0 = not checked. */
  pressure: PressureConfig;
  ai: AiConfig;
  /** The cache module (src/cache/) and the full-page cache for anonymous readers. */
  cache: CacheConfig;
  /** Set when REDIS_URL is: what Redis shares between instances (see src/plugins/redis.ts). */
  redis?: RedisConfig;
  /** Job callbacks: the options of WebhookSender (src/modules/ai/webhooks.ts). */
  webhooks: WebhookConfig;
  /** The BullMQ queue and its workers (used when REDIS_URL is set; see src/queue/bullmq.ts). */
  jobs: JobsConfig;
  /** Prometheus `/metrics` (src/plugins/metrics.ts): a second port, and/or the main one behind a token. */
  metrics: { port?: number; token?: string };
  /** OpenTelemetry trace export (src/tracing/): off without an endpoint. */
  tracing: TracingConfig;
}

export interface CacheConfig {
  /** Seconds an anonymous page is cached; 0: no page cache. */
  pageTtlSeconds: number;
  /** stale-while-revalidate for shared caches in front. */
  pageStaleSeconds: number;
  /** Seconds the hot reads are cached (src/cache/query-cache.ts); 0: no query cache. */
  queryTtlSeconds: number;
  /** Bytes the in-process L1 may hold. */
  memoryMaxBytes: number;
  /** Set when PAGE_PURGE_URL is: where writes tell a shared cache in front what changed. */
  purge?: PurgeConfig;
}

export interface PressureConfig {
  maxEventLoopDelayMs: number;
  /** Of V8's heap limit. */
  maxHeapPercent: number;
  maxRssBytes: number;
  retryAfterSeconds: number;
}

export interface JobsConfig {
  /** Jobs one `inkstone worker` runs at once. */
  workerConcurrency: number;
  /** Jobs the web process runs itself; 0: it only queues them. */
  webWorkerConcurrency: number;
  /** BullMQ's lockDuration and stalledInterval. */
  lockMs: number;
  /** BullMQ's maxStalledCount. */
  maxRestarts: number;
}

export interface RedisConfig {
  url: string;
  /** Starts every key Inkstone writes. */
  prefix: string;
}

export interface WebhookConfig {
  /** Destinations that may be private: `host`, `host:port`, IP or CIDR. */
  allowHosts: string[];
  attempts: number;
  timeoutMs: number;
  baseDelayMs: number;
  /** Also caps a receiver's Retry-After. */
  maxDelayMs: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Inkstone cannot start; fix the configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

// Used only outside production, so a fresh clone runs with no configuration at all.
const DEV_SESSION_SECRET = 'inkstone-development-secret-do-not-use-in-production';

type RawEnv = Record<string, string | undefined>;

export function parseDatabaseUrl(url: string | undefined): DatabaseConfig {
  if (!url) return { kind: 'sqlite', file: resolve('data/inkstone.db') };
  if (url.startsWith('sqlite:')) {
    const file = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (!file) throw new Error('DATABASE_URL=sqlite: needs a file path, e.g. sqlite:./data/inkstone.db');
    return { kind: 'sqlite', file: file === ':memory:' ? file : resolve(file) };
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    const parsed = new URL(url);
    const schema = parsed.searchParams.get('schema') ?? undefined;
    parsed.searchParams.delete('schema');
    return schema ? { kind: 'postgres', url: parsed.toString(), schema } : { kind: 'postgres', url };
  }
  throw new Error(
    `DATABASE_URL must start with sqlite: or postgres:// (got "${url.split(':')[0]}:…"); leave it unset for ./data/inkstone.db`,
  );
}

export function parseRedisUrl(url: string): string {
  let protocol = '';
  try {
    protocol = new URL(url).protocol;
  } catch {
    // reported below
  }
  // The URL is not quoted back: it may hold the password.
  if (protocol !== 'redis:' && protocol !== 'rediss:') {
    throw new Error('REDIS_URL must be a URL such as redis://127.0.0.1:6379/0 (rediss:// for TLS)');
  }
  return url;
}

function redisConfig(env: Env, problems: string[]): RedisConfig | undefined {
  if (!env.REDIS_URL) return undefined;
  try {
    return { url: parseRedisUrl(env.REDIS_URL), prefix: env.REDIS_PREFIX };
  } catch (error) {
    problems.push((error as Error).message);
    return undefined;
  }
}

function purgeConfig(env: Env, problems: string[]): PurgeConfig | undefined {
  if (!env.PAGE_PURGE_URL) return undefined;
  const url = env.PAGE_PURGE_URL;
  if (!/^https?:\/\/[^/]/i.test(url) || !URL.canParse(url)) {
    problems.push('PAGE_PURGE_URL must be an http:// or https:// URL, e.g. http://127.0.0.1:8080');
  }
  let header: PurgeConfig['header'];
  if (env.PAGE_PURGE_HEADER) {
    const at = env.PAGE_PURGE_HEADER.indexOf(':');
    const name = env.PAGE_PURGE_HEADER.slice(0, Math.max(at, 0)).trim();
    // The value is not quoted back: it is a secret.
    if (!/^[!#$%&'*+.^`|~\w-]+$/.test(name)) {
      problems.push('PAGE_PURGE_HEADER must be `Name: value`, e.g. `Authorization: Bearer TOKEN`');
    } else header = { name, value: env.PAGE_PURGE_HEADER.slice(at + 1).trim() };
  }
  return { url, style: env.PAGE_PURGE_STYLE, ...(header ? { header } : {}) };
}

// Not variables: with the default 5 attempts the waits are up to 1, 2, 4 and 8 s, and a
// receiver that asks for longer with Retry-After gets at most a minute.
const WEBHOOK_BASE_DELAY_MS = 1000;
const WEBHOOK_MAX_DELAY_MS = 60_000;

function webhookConfig(env: Env, problems: string[]): WebhookConfig {
  const allowHosts = (env.WEBHOOK_ALLOW_HOSTS ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  try {
    parseAllowHosts(allowHosts);
  } catch (error) {
    problems.push(`WEBHOOK_ALLOW_HOSTS: ${(error as Error).message}`);
  }
  return {
    allowHosts,
    attempts: env.WEBHOOK_ATTEMPTS,
    timeoutMs: env.WEBHOOK_TIMEOUT_MS,
    baseDelayMs: WEBHOOK_BASE_DELAY_MS,
    maxDelayMs: WEBHOOK_MAX_DELAY_MS,
  };
}

function tracingConfig(env: Env, problems: string[]): TracingConfig {
  const endpoint = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  if (!endpoint) return { serviceName: env.OTEL_SERVICE_NAME };
  if (!/^https?:\/\/[^/]/i.test(endpoint) || !URL.canParse(endpoint)) {
    problems.push(
      `OTEL_EXPORTER_OTLP_ENDPOINT must be an http:// or https:// URL, e.g. http://127.0.0.1:4318 (got "${endpoint}")`,
    );
  }
  return { endpoint, serviceName: env.OTEL_SERVICE_NAME };
}

const TRUE = ['1', 'true', 'yes', 'on'];
const FALSE = ['0', 'false', 'no', 'off'];

// TypeBox's Value.Convert is too lenient for hand-typed variables ("1.5" becomes 1, "" becomes
// 0, "yes" stays a string), so strings are read strictly here and the schema then checks bounds.
// A string that cannot be read is returned as is, and fails the check.
function convert(schema: VariableSchema, raw: string): unknown {
  if (schema.type === 'integer') return /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : raw;
  if (schema.type === 'boolean') {
    const word = raw.trim().toLowerCase();
    return TRUE.includes(word) ? true : FALSE.includes(word) ? false : raw;
  }
  return raw;
}

function either(values: readonly (string | number)[]): string {
  return values.length < 2 ? values.join('') : `${values.slice(0, -1).join(', ')} or ${values.at(-1)}`;
}

function problem(name: string, schema: VariableSchema, raw: string): string {
  const got = schema.secret ? '' : ` (got "${raw}")`;
  if (schema.type === 'integer')
    return `${name} must be a whole number between ${schema.minimum} and ${schema.maximum}${got}`;
  if (schema.type === 'boolean') return `${name} must be true or false${got}`;
  if (schema.enum) return `${name} must be ${either(schema.enum)}${got}`;
  if (schema.minLength) return `${name} must be at least ${schema.minLength} characters long${got}`;
  return `${name} is not valid${got}`;
}

/**
 * Reads every declared variable: unset or empty means its default; a bad value is reported
 * and replaced by its default, so the rules that combine variables still run and every
 * problem is listed at once.
 */
function readEnv(raw: RawEnv, problems: string[]): { env: Env; given: Set<string> } {
  const values: Record<string, unknown> = {};
  const given = new Set<string>();
  for (const [name, schema] of variablesOf(EnvSchema)) {
    const text = raw[name] ?? '';
    const value = text === '' ? undefined : convert(schema, text);
    if (value !== undefined && Value.Check(schema, value)) {
      values[name] = value;
      given.add(name);
      continue;
    }
    if (text !== '') problems.push(problem(name, schema, text));
    if (schema.default !== undefined) values[name] = schema.default;
  }
  // Every value is now either checked or a schema default, so this only narrows the type.
  if (!Value.Check(EnvSchema, values)) throw new Error('a default in config-schema.ts fails its own schema');
  return { env: values, given };
}

const LIMIT_VARIABLES = {
  poolMax: 'DATABASE_POOL_MAX',
  connectTimeoutMs: 'DATABASE_CONNECT_TIMEOUT_MS',
  statementTimeoutMs: 'DATABASE_STATEMENT_TIMEOUT_MS',
  lockTimeoutMs: 'DATABASE_LOCK_TIMEOUT_MS',
  busyTimeoutMs: 'SQLITE_BUSY_TIMEOUT_MS',
  slowQueryMs: 'DATABASE_SLOW_QUERY_MS',
} as const satisfies Record<keyof DatabaseLimits, keyof Env>;

function databaseConfig(env: Env, given: Set<string>, problems: string[]): DatabaseConfig {
  let database: DatabaseConfig = { kind: 'sqlite', file: resolve('data/inkstone.db') };
  try {
    database = parseDatabaseUrl(env.DATABASE_URL);
  } catch (error) {
    problems.push((error as Error).message);
  }
  const limits: Partial<DatabaseLimits> = Object.fromEntries(
    Object.entries(LIMIT_VARIABLES)
      .filter(([, name]) => given.has(name))
      .map(([key, name]) => [key, env[name]]),
  );
  return Object.keys(limits).length > 0 ? { ...database, limits } : database;
}

export function loadConfig(raw: RawEnv = process.env): Config {
  const problems: string[] = [];
  const { env, given } = readEnv(raw, problems);
  const production = env.NODE_ENV === 'production';

  let sessionSecret = env.SESSION_SECRET ?? '';
  if (!sessionSecret) {
    if (production) problems.push('SESSION_SECRET is required in production (32 or more random characters)');
    sessionSecret = DEV_SESSION_SECRET;
  }

  const { HOST: host, PORT: port } = env;
  let publicUrl = env.PUBLIC_URL ?? `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  try {
    const url = new URL(publicUrl);
    if (!['http:', 'https:'].includes(url.protocol)) throw new Error('protocol');
    publicUrl = url.toString().replace(/\/$/, '');
  } catch {
    problems.push(`PUBLIC_URL must be an http(s) URL such as https://blog.example.com (got "${publicUrl}")`);
  }

  // Node stops waiting for headers at the request timeout anyway; a longer headers timeout
  // would read as a setting that has no effect.
  if (env.HTTP_HEADERS_TIMEOUT_MS > env.HTTP_REQUEST_TIMEOUT_MS) {
    problems.push(
      `HTTP_HEADERS_TIMEOUT_MS (${env.HTTP_HEADERS_TIMEOUT_MS}) must not be longer than HTTP_REQUEST_TIMEOUT_MS (${env.HTTP_REQUEST_TIMEOUT_MS})`,
    );
  }

  const config: Config = {
    env: env.NODE_ENV,
    host,
    port,
    publicUrl,
    database: databaseConfig(env, given, problems),
    sessionSecret,
    cookieSecure: env.COOKIE_SECURE ?? production,
    trustProxy: env.TRUST_PROXY,
    logLevel: env.LOG_LEVEL ?? (env.NODE_ENV === 'test' ? 'silent' : 'info'),
    ...(env.LOG_PRETTY === undefined ? {} : { logPretty: env.LOG_PRETTY }),
    bodyLimit: env.BODY_LIMIT,
    login: {
      maxPerIp: env.LOGIN_MAX_PER_IP,
      maxPerAccount: env.LOGIN_MAX_PER_ACCOUNT,
      windowSeconds: env.LOGIN_WINDOW_SECONDS,
    },
    http: {
      requestTimeoutMs: env.HTTP_REQUEST_TIMEOUT_MS,
      headersTimeoutMs: env.HTTP_HEADERS_TIMEOUT_MS,
      keepAliveTimeoutMs: env.HTTP_KEEP_ALIVE_TIMEOUT_MS,
    },
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    pressure: {
      maxEventLoopDelayMs: env.OVERLOAD_EVENT_LOOP_DELAY_MS ?? (env.NODE_ENV === 'test' ? 0 : 1000),
      maxHeapPercent: env.OVERLOAD_HEAP_PERCENT ?? (env.NODE_ENV === 'test' ? 0 : 90),
      maxRssBytes: env.OVERLOAD_RSS_MB * 1024 * 1024,
      retryAfterSeconds: env.OVERLOAD_RETRY_AFTER_SECONDS,
    },
    ai: aiConfig(env, raw, problems),
    cache: {
      pageTtlSeconds: env.PAGE_CACHE_TTL_SECONDS,
      pageStaleSeconds: env.PAGE_CACHE_STALE_SECONDS,
      queryTtlSeconds: env.QUERY_CACHE_TTL_SECONDS,
      memoryMaxBytes: env.CACHE_MEMORY_MAX_MB * 1024 * 1024,
      purge: purgeConfig(env, problems),
    },
    redis: redisConfig(env, problems),
    webhooks: webhookConfig(env, problems),
    jobs: {
      workerConcurrency: env.AI_WORKER_CONCURRENCY,
      webWorkerConcurrency: env.AI_WEB_WORKER_CONCURRENCY ?? env.AI_WORKER_CONCURRENCY,
      lockMs: env.AI_JOB_LOCK_MS,
      maxRestarts: env.AI_JOB_MAX_RESTARTS,
    },
    metrics: {
      ...(env.METRICS_PORT !== undefined ? { port: env.METRICS_PORT } : {}),
      ...(env.METRICS_TOKEN ? { token: env.METRICS_TOKEN } : {}),
    },
    tracing: tracingConfig(env, problems),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
