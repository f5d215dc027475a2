import { hash, randomBytes } from 'node:crypto';
import { ExpiringMap } from '../../cache/expiring-map.js';
import { pageTags } from '../../cache/page-cache.js';
import { type QueryReader, queryTags } from '../../cache/query-cache.js';
import { type Clock, isoNow } from '../../clock.js';
import type { ApiTokenRow } from '../../db/types.js';
import { AppError, fieldError, forbidden, notFound, tooManyRequests } from '../../errors.js';
import { type Actor, requireUser } from '../access/permissions.js';
import type { SettingsService } from '../settings/service.js';
import type { NewUser, User } from '../users/schemas.js';
import type { UsersService } from '../users/service.js';
import type { LoginLimiter } from './login-limiter.js';
import type { AuthRepository } from './repository.js';

export const SESSION_DAYS = 30;
export const TOKEN_PREFIX = 'isk_';
const TOUCH_EVERY_MS = 60_000;
/** How long another instance may still accept a token revoked on this one. */
const TOKEN_TTL_MS = 5_000;

// One-shot: a Hash object per call cost ~1 µs more, on every signed-in request.
const sha256 = (value: string) => hash('sha256', value, 'hex');
type CachedSession = { actor: Actor; expiresAt: string } | null;
/** How a session is kept in the query cache: one object, not three closures per request. */
const SESSION_ENTRY = {
  keep: (value: CachedSession) => value !== null,
  tags: (value: CachedSession) =>
    value ? [queryTags.sessions(value.actor.id), pageTags.user(value.actor.id)] : [],
  // Past this moment a hit is a miss, and the fill finds the session expired.
  until: (value: CachedSession) => (value ? Date.parse(value.expiresAt) : null),
};
const secret = () => randomBytes(32).toString('base64url');

export interface ApiToken {
  id: number;
  name: string;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
}

/** What auth asks of the users module: accounts and credentials, never the users table. */
export type UserDirectory = Pick<
  UsersService,
  'create' | 'hasUsers' | 'findByLogin' | 'verifyPassword' | 'changePassword' | 'getActor'
>;

/** Sessions, API tokens and sign-in; the accounts themselves belong to the users module. */
export class AuthService {
  // An API token's owner, by the token's hash: a script calling the API in a loop would
  // otherwise cost a query per call. Revoking here drops it at once; on another instance a
  // revoked token works at most TOKEN_TTL_MS longer.
  private readonly tokens: ExpiringMap<string, Pick<ApiTokenRow, 'id' | 'user_id' | 'last_used_at'>>;
  // When this process last recorded a token's use (a cached row's last_used_at is as of its fill).
  private readonly touched: ExpiringMap<number, string>;

  constructor(
    private readonly deps: {
      repo: AuthRepository;
      users: UserDirectory;
      settings: Pick<SettingsService, 'get'>;
      limiter: LoginLimiter;
      clock: Clock;
      /**
       * Sessions and API tokens by their hash, invalidated on every instance by a sign-out,
       * a password change, a revocation or the user's tag (role, name). Absent: a session is
       * a query per request, a token is remembered in this process for TOKEN_TTL_MS.
       */
      queries?: QueryReader;
    },
  ) {
    this.tokens = new ExpiringMap({
      ttlMs: TOKEN_TTL_MS,
      maxEntries: 10_000,
      now: () => deps.clock.now().getTime(),
    });
    this.touched = new ExpiringMap({
      ttlMs: TOUCH_EVERY_MS,
      maxEntries: 10_000,
      now: () => deps.clock.now().getTime(),
    });
  }

  /** Open sign-up creates a reader; an admin can close it in the settings. */
  async register(input: NewUser): Promise<User> {
    const { registrationOpen } = await this.deps.settings.get();
    if (!registrationOpen)
      throw new AppError(403, 'registration_closed', 'Registration is closed on this site.');
    return this.deps.users.create(input, 'reader');
  }

  async needsSetup(): Promise<boolean> {
    return !(await this.deps.users.hasUsers());
  }

  /** Creates the first admin; refused once any user exists. */
  async setup(input: NewUser): Promise<User> {
    const setupDone = () => forbidden('Setup is done: this site already has users.');
    if (!(await this.needsSetup())) throw setupDone();
    const user = await this.deps.users.create(input, 'admin', { onlyFirst: true });
    if (!user) throw setupDone();
    return user;
  }

  async login(login: string, password: string, ip: string): Promise<User> {
    const typed = login.trim().toLowerCase();
    const user = await this.deps.users.findByLogin(typed);
    // One counter per account, whether it is reached by username or email.
    const account = user ? `user:${user.id}` : `login:${typed}`;
    // Counted before the slow hash check, so parallel guesses cannot all slip under the limit.
    const wait = await this.deps.limiter.take(ip, account);
    if (wait > 0) throw tooManyRequests(wait, `Too many failed sign-ins; try again in ${wait} seconds.`);
    const ok = await this.deps.users.verifyPassword(user?.id, password);
    if (!user || !ok) {
      throw new AppError(401, 'invalid_credentials', 'Wrong username, email or password.', {
        login: 'wrong username, email or password',
      });
    }
    await this.deps.limiter.recordSuccess(ip, account);
    return user;
  }

  /** Returns the cookie's token; only its hash is stored. */
  async createSession(userId: number, userAgent: string): Promise<string> {
    const token = secret();
    const now = this.deps.clock.now();
    // Sign-ins are rare next to page views: a fine moment to drop sessions that expired.
    await this.deps.repo.deleteExpiredSessions(now.toISOString());
    await this.deps.repo.createSession({
      id: sha256(token),
      userId,
      createdAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + SESSION_DAYS * 86_400_000).toISOString(),
      userAgent: userAgent.slice(0, 300),
    });
    return token;
  }

  async resolveSession(token: string): Promise<Actor | null> {
    const id = sha256(token);
    const load = async (): Promise<CachedSession> => {
      const session = await this.deps.repo.getSession(id);
      if (!session) return null;
      if (session.expires_at <= isoNow(this.deps.clock)) {
        await this.deps.repo.deleteSession(session.id);
        return null;
      }
      const actor = await this.deps.users.getActor(session.user_id);
      return actor && { actor, expiresAt: session.expires_at };
    };
    const { queries } = this.deps;
    // Keyed by the secret's hash: only its holder can ask for the entry.
    const found = queries ? await queries.get('session', id, load, SESSION_ENTRY) : await load();
    return found?.actor ?? null;
  }

  async logout(token: string): Promise<void> {
    const id = sha256(token);
    const session = this.deps.queries && (await this.deps.repo.getSession(id));
    await this.deps.repo.deleteSession(id);
    if (session) await this.deps.queries?.invalidate([queryTags.sessions(session.user_id)]);
  }

  /** Changes the password and signs out every other session of the user. */
  async changePassword(actor: Actor | null, current: string, next: string, keepSessionToken?: string) {
    requireUser(actor);
    const keep = keepSessionToken ? sha256(keepSessionToken) : undefined;
    await this.deps.users.changePassword(actor.id, current, next, (trx) =>
      this.deps.repo.deleteOtherSessions(actor.id, keep, trx),
    );
    // The kept session is read again too: it is one query, once.
    await this.deps.queries?.invalidate([queryTags.sessions(actor.id)]);
  }

  toApiToken(row: ApiTokenRow): ApiToken {
    return {
      id: row.id,
      name: row.name,
      prefix: row.prefix,
      createdAt: row.created_at,
      lastUsedAt: row.last_used_at,
    };
  }

  /** The token is shown once, here; afterwards only its prefix is known. */
  async createToken(actor: Actor | null, name: string): Promise<{ token: string; record: ApiToken }> {
    requireUser(actor);
    const trimmed = name.trim();
    if (!trimmed) throw fieldError('name', 'name must not be empty');
    const token = `${TOKEN_PREFIX}${secret()}`;
    const row = await this.deps.repo.createToken({
      userId: actor.id,
      name: trimmed,
      tokenHash: sha256(token),
      prefix: token.slice(0, TOKEN_PREFIX.length + 6),
      createdAt: isoNow(this.deps.clock),
    });
    return { token, record: this.toApiToken(row) };
  }

  async listTokens(actor: Actor | null): Promise<ApiToken[]> {
    requireUser(actor);
    return (await this.deps.repo.listTokens(actor.id)).map((row) => this.toApiToken(row));
  }

  async revokeToken(actor: Actor | null, id: number): Promise<void> {
    requireUser(actor);
    const deleted = await this.deps.repo.deleteToken(id, actor.id);
    this.tokens.deleteWhere((token) => token.id === id);
    await this.deps.queries?.invalidate([queryTags.tokens(actor.id)]);
    if (!deleted) throw notFound('Token');
  }

  async resolveToken(token: string): Promise<Actor | null> {
    if (!token.startsWith(TOKEN_PREFIX)) return null;
    const row = await this.tokenRow(sha256(token));
    if (!row) return null;
    const actor = await this.deps.users.getActor(row.user_id);
    if (!actor) return null;
    // Recording use is bookkeeping: a failure here must not fail the request. To the minute
    // is enough for "last used", and a script calling the API in a loop should not cost a
    // database write per request.
    const now = this.deps.clock.now();
    const last = this.touched.get(row.id) ?? row.last_used_at;
    if (!last || now.getTime() - Date.parse(last) >= TOUCH_EVERY_MS) {
      const at = now.toISOString();
      this.touched.set(row.id, at);
      void this.deps.repo.touchToken(row.id, at).catch(() => {});
    }
    return actor;
  }

  private async tokenRow(hash: string): Promise<Pick<ApiTokenRow, 'id' | 'user_id' | 'last_used_at'> | null> {
    const load = async () => {
      const stored = await this.deps.repo.getTokenByHash(hash);
      return stored ? { id: stored.id, user_id: stored.user_id, last_used_at: stored.last_used_at } : null;
    };
    if (this.deps.queries) {
      // A revocation on any instance drops it at once (the owner's tokens tag).
      return this.deps.queries.get('session', `token:${hash}`, load, {
        keep: (row) => row !== null,
        tags: (row) => (row ? [queryTags.tokens(row.user_id)] : []),
      });
    }
    let row = this.tokens.get(hash) ?? null;
    if (!row) {
      row = await load();
      if (row) this.tokens.set(hash, row);
    }
    return row;
  }
}
