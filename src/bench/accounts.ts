// The bench's own accounts on the site under test, made through the public API as a person
// would: register (role reader), then, to write posts and ask the AI, promoted to author by an
// admin (PUT /api/v1/users/:id/role). What cannot be done is said, not guessed around: the
// runs skip the kinds that need it and print why.
import { type BenchOutcome, type BenchRequest, type HttpClient, setCookies } from './http.js';

export const API = '/api/v1';
/** An admin's personal API token (Bearer), instead of --admin-user/--admin-password. */
export const ADMIN_TOKEN_ENV = 'INKSTONE_BENCH_ADMIN_TOKEN';

export interface Credentials {
  login: string;
  password: string;
}

interface SessionUser {
  id: number;
  username: string;
  role: string;
  url: string;
}

/** A signed-in user: the session and CSRF cookies of a browser, for the API's writes. */
export class Session {
  private readonly cookies = new Map<string, string>();
  csrf = '';
  user: SessionUser | undefined;

  constructor(
    private readonly client: HttpClient,
    /** A Bearer token instead of a session (an admin's API token). */
    private readonly token?: string,
  ) {}

  async request(spec: BenchRequest): Promise<BenchOutcome> {
    const headers: Record<string, string> = { ...spec.headers };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    else if (this.cookies.size)
      headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('; ');
    if (this.csrf && spec.method && spec.method !== 'GET') headers['x-csrf-token'] = this.csrf;
    const outcome = await this.client.request({ ...spec, headers });
    for (const [name, value] of setCookies(outcome.headers)) {
      if (value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return outcome;
  }

  /** POST /auth/login; keeps the session. The outcome is the caller's to record. */
  async login(credentials: Credentials): Promise<BenchOutcome> {
    this.cookies.clear();
    const outcome = await this.request({
      method: 'POST',
      path: `${API}/auth/login`,
      json: credentials,
      expect: [200],
    });
    if (outcome.ok) this.adopt(outcome);
    return outcome;
  }

  async register(username: string, password: string): Promise<BenchOutcome> {
    const outcome = await this.request({
      method: 'POST',
      path: `${API}/auth/register`,
      json: { username, email: `${username}@bench.invalid`, password, displayName: `Bench ${username}` },
      expect: [201],
    });
    if (outcome.ok) this.adopt(outcome);
    return outcome;
  }

  /** Who the token belongs to (token sessions have no login response). */
  async whoAmI(): Promise<BenchOutcome> {
    const outcome = await this.request({ path: `${API}/auth/me`, expect: [200] });
    if (outcome.ok) this.adopt(outcome);
    return outcome;
  }

  private adopt(outcome: BenchOutcome): void {
    const info = JSON.parse(outcome.body) as { user: SessionUser; csrfToken: string };
    this.user = info.user;
    this.csrf = info.csrfToken;
  }
}

export const WRITER_ROLES = new Set(['author', 'editor', 'admin']);

export interface AccountPlan {
  /** Accounts the virtual users sign in with. */
  accounts: Credentials[];
  /** Whether they may write posts and use the AI. */
  canWrite: boolean;
  /** Sentences for the output: what was made, and what is missing. */
  notes: string[];
}

export interface AccountOptions {
  user?: Credentials;
  admin?: Credentials;
  adminToken?: string;
  /** How many accounts to make when none is given. */
  count: number;
  /** Unique per run: the accounts' names. */
  runId: string;
}

const reason = (what: string, outcome: BenchOutcome) => {
  let message = '';
  try {
    message = (JSON.parse(outcome.body) as { error?: { message?: string } }).error?.message ?? '';
  } catch {
    // Not JSON (a proxy's page, not an Inkstone): the status says enough.
  }
  return `${what} failed (${outcome.status || outcome.error}${message ? `: ${message}` : ''})`;
};

/**
 * Given credentials are used as they are; otherwise `count` fresh accounts are registered and,
 * with an admin's credentials or token, made authors.
 */
export async function prepareAccounts(client: HttpClient, options: AccountOptions): Promise<AccountPlan> {
  if (options.user) {
    const session = new Session(client);
    const outcome = await session.login(options.user);
    if (!outcome.ok) throw new Error(`Signing in as ${options.user.login}: ${reason('login', outcome)}.`);
    const canWrite = WRITER_ROLES.has(session.user!.role);
    return {
      accounts: [options.user],
      canWrite,
      notes: canWrite
        ? [`Every virtual user signs in as ${session.user!.username} (${session.user!.role}).`]
        : [
            `${session.user!.username} is a ${session.user!.role}: posts and AI drafts need an author; skipped.`,
          ],
    };
  }

  const password = `bench-${options.runId}-pw`;
  const accounts: Credentials[] = [];
  const sessions: Session[] = [];
  for (let i = 0; i < options.count; i++) {
    const username = `bench-${options.runId}-${i + 1}`;
    const session = new Session(client);
    const outcome = await session.register(username, password);
    if (!outcome.ok) {
      if (accounts.length === 0)
        return {
          accounts: [],
          canWrite: false,
          notes: [
            `Could not create test accounts: ${reason('POST /api/v1/auth/register', outcome)}. ` +
              'Log-in, post and AI kinds skipped; pass --user and --password of an author to run them.',
          ],
        };
      break;
    }
    accounts.push({ login: username, password });
    sessions.push(session);
  }
  const notes = [`Registered ${accounts.length} test accounts (bench-${options.runId}-N).`];

  const admin = await adminSession(client, options);
  if (!admin.session) {
    notes.push(
      `The accounts are readers: ${admin.note}. Posts and AI drafts need an author and are skipped; ` +
        `pass --admin-user/--admin-password (or ${ADMIN_TOKEN_ENV}), or --user/--password of an author.`,
    );
    return { accounts, canWrite: false, notes };
  }
  for (const session of sessions) {
    const outcome = await admin.session.request({
      method: 'PUT',
      path: `${API}/users/${session.user!.id}/role`,
      json: { role: 'author' },
      expect: [200],
    });
    if (!outcome.ok) {
      notes.push(
        `Could not make the accounts authors: ${reason('PUT /api/v1/users/:id/role', outcome)}; posts and AI drafts skipped.`,
      );
      return { accounts, canWrite: false, notes };
    }
  }
  notes.push('They were made authors by the admin account given.');
  return { accounts, canWrite: true, notes };
}

async function adminSession(
  client: HttpClient,
  options: AccountOptions,
): Promise<{ session?: Session; note: string }> {
  const token = options.adminToken;
  if (!options.admin && !token) return { note: 'no admin credentials were given' };
  const session = new Session(client, options.admin ? undefined : token);
  const outcome = options.admin ? await session.login(options.admin) : await session.whoAmI();
  if (!outcome.ok)
    return { note: reason(options.admin ? 'the admin login' : `the ${ADMIN_TOKEN_ENV} token`, outcome) };
  if (session.user!.role !== 'admin') return { note: `${session.user!.username} is not an admin` };
  return { session, note: '' };
}
