import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { type AppOptions, buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import type { Dialect } from '../../src/db/index.js';
import type { Role } from '../../src/db/types.js';
import { scryptHasher } from '../../src/modules/users/password.js';
import type { ServiceOverrides } from '../../src/services.js';
import { createTestDatabase, type TestDatabase } from './db.js';

export interface TestApp {
  app: FastifyInstance;
  database: TestDatabase;
  close(): Promise<void>;
}

// scrypt at a cost of 2^10 instead of 2^15: the same code, ~1 ms a hash instead of ~90 ms,
// which the permission suites (hundreds of sign-ins) would otherwise spend hashing. One
// suite (test/unit/password.test.ts) checks the production cost.
const cheapHasher = scryptHasher(2 ** 10);

export async function createTestApp(
  dialect: Dialect,
  env: Record<string, string> = {},
  overrides: ServiceOverrides = {},
  options: Pick<AppOptions, 'worker'> = {},
): Promise<TestApp> {
  const database = await createTestDatabase(dialect);
  const config = loadConfig({ NODE_ENV: 'test', ...env });
  config.database = database.config;
  const app = await buildApp({
    config,
    database: database.handle,
    overrides: { passwordHasher: cheapHasher, ...overrides },
    logger: false,
    ...options,
  });
  await app.ready();
  return {
    app,
    database,
    close: async () => {
      await app.close();
      await database.destroy();
    },
  };
}

/**
 * A second instance over `first`'s database, configured from `env` as createTestApp does: two
 * apps stand for two processes behind a load balancer. The caller closes it (before `first`).
 */
export async function createSecondApp(first: TestApp, env: Record<string, string>): Promise<FastifyInstance> {
  const config = loadConfig({ NODE_ENV: 'test', ...env });
  config.database = first.database.config;
  const app = await buildApp({
    config,
    database: first.database.handle,
    overrides: { passwordHasher: cheapHasher },
    logger: false,
  });
  await app.ready();
  return app;
}

let counter = 0;

/** A user straight through the service (fast), with a unique name. */
export async function createUser(app: FastifyInstance, role: Role, name?: string) {
  counter++;
  const username = name ?? `${role}${counter}${Math.random().toString(36).slice(2, 6)}`;
  const password = 'correct horse battery';
  const email = `${username}@example.com`;
  const user = await app.services.users.create({ username, email, password }, role);
  return { ...user, email, password };
}

/**
 * A cookie-keeping client over app.inject, like a browser: it holds the session and
 * CSRF cookies and sends the CSRF token with form and JSON writes.
 */
export class Client {
  readonly cookies = new Map<string, string>();

  constructor(readonly app: FastifyInstance) {}

  get csrf(): string {
    return this.cookies.get('inkstone_csrf') ?? '';
  }

  async request(options: InjectOptions): Promise<LightMyRequestResponse> {
    const headers: Record<string, string> = { ...(options.headers as Record<string, string>) };
    if (this.cookies.size)
      headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('; ');
    const response = await this.app.inject({ ...options, headers });
    for (const cookie of response.cookies as {
      name: string;
      value: string;
      maxAge?: number;
      expires?: Date;
    }[]) {
      const expired = cookie.maxAge === 0 || (cookie.expires && cookie.expires.getTime() < Date.now());
      if (expired || cookie.value === '') this.cookies.delete(cookie.name);
      else this.cookies.set(cookie.name, cookie.value);
    }
    return response;
  }

  get(url: string, headers: Record<string, string> = {}) {
    return this.request({ method: 'GET', url, headers });
  }

  /**
   * Loads a page with a form, as a browser would before posting one: only such pages set the
   * CSRF cookie. The login page, or the page it sends the visitor to (setup on a fresh site).
   */
  private async ensureCsrf(): Promise<void> {
    if (this.csrf) return;
    const login = await this.get('/login');
    if (!this.csrf && login.headers.location) await this.get(String(login.headers.location));
  }

  /** Submits an HTML form (urlencoded), adding the CSRF field unless given. */
  async form(url: string, fields: Record<string, string>) {
    await this.ensureCsrf();
    return this.request({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ _csrf: this.csrf, ...fields }).toString(),
    });
  }

  /** A JSON API call with the session cookie and the x-csrf-token header. */
  async api(method: InjectOptions['method'], url: string, body?: unknown) {
    await this.ensureCsrf();
    return this.request({
      method,
      url,
      headers: {
        'x-csrf-token': this.csrf,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
    });
  }

  async login(login: string, password: string) {
    const response = await this.api('POST', '/api/v1/auth/login', { login, password });
    if (response.statusCode !== 200) throw new Error(`login failed: ${response.statusCode} ${response.body}`);
    return this;
  }
}

/** A client signed in as a fresh user of the role. */
export async function signedIn(app: FastifyInstance, role: Role) {
  const user = await createUser(app, role);
  const client = await new Client(app).login(user.username, user.password);
  return { user, client };
}
