import { resolve } from 'node:path';

export type DatabaseConfig =
  { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string; schema?: string };

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
  /** Largest request body accepted, in bytes; larger gets 413. */
  bodyLimit: number;
  login: { maxPerIp: number; maxPerAccount: number; windowSeconds: number };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Inkstone cannot start; fix the configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

// Used only outside production, so a fresh clone runs with no configuration at all.
const DEV_SESSION_SECRET = 'inkstone-development-secret-do-not-use-in-production';

type Env = Record<string, string | undefined>;

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

function integer(
  env: Env,
  name: string,
  fallback: number,
  problems: string[],
  min = 0,
  max = 2 ** 31,
): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    problems.push(`${name} must be a whole number between ${min} and ${max} (got "${raw}")`);
    return fallback;
  }
  return value;
}

function boolean(env: Env, name: string, fallback: boolean, problems: string[]): boolean {
  const raw = env[name]?.toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  problems.push(`${name} must be true or false (got "${env[name]}")`);
  return fallback;
}

export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const nodeEnv = env.NODE_ENV ?? 'development';
  if (!['development', 'production', 'test'].includes(nodeEnv)) {
    problems.push(`NODE_ENV must be development, production or test (got "${nodeEnv}")`);
  }
  const production = nodeEnv === 'production';
  const host = env.HOST || '127.0.0.1';
  const port = integer(env, 'PORT', 3000, problems, 0, 65535);

  let database: DatabaseConfig = { kind: 'sqlite', file: resolve('data/inkstone.db') };
  try {
    database = parseDatabaseUrl(env.DATABASE_URL || undefined);
  } catch (error) {
    problems.push((error as Error).message);
  }

  let sessionSecret = env.SESSION_SECRET ?? '';
  if (!sessionSecret) {
    if (production) problems.push('SESSION_SECRET is required in production (32 or more random characters)');
    sessionSecret = DEV_SESSION_SECRET;
  } else if (sessionSecret.length < 32) {
    problems.push('SESSION_SECRET must be at least 32 characters long');
  }

  let publicUrl = env.PUBLIC_URL || `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  try {
    const url = new URL(publicUrl);
    if (!['http:', 'https:'].includes(url.protocol)) throw new Error('protocol');
    publicUrl = url.toString().replace(/\/$/, '');
  } catch {
    problems.push(`PUBLIC_URL must be an http(s) URL such as https://blog.example.com (got "${publicUrl}")`);
  }

  const config: Config = {
    env: nodeEnv as Config['env'],
    host,
    port,
    publicUrl,
    database,
    sessionSecret,
    cookieSecure: boolean(env, 'COOKIE_SECURE', production, problems),
    trustProxy: boolean(env, 'TRUST_PROXY', false, problems),
    logLevel: env.LOG_LEVEL || (nodeEnv === 'test' ? 'silent' : 'info'),
    bodyLimit: integer(env, 'BODY_LIMIT', 1024 * 1024, problems, 1024),
    login: {
      maxPerIp: integer(env, 'LOGIN_MAX_PER_IP', 30, problems, 1),
      maxPerAccount: integer(env, 'LOGIN_MAX_PER_ACCOUNT', 8, problems, 1),
      windowSeconds: integer(env, 'LOGIN_WINDOW_SECONDS', 900, problems, 1),
    },
  };
  const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
  if (!levels.includes(config.logLevel)) problems.push(`LOG_LEVEL must be one of ${levels.join(', ')}`);
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
