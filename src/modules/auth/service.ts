import { createHash, randomBytes } from 'node:crypto';
import { nowIso } from '../../db/index.js';
import type { ApiTokenRow } from '../../db/types.js';
import { AppError, fieldError, forbidden, notFound, tooManyRequests, unauthorized } from '../../errors.js';
import type { SettingsService } from '../settings/service.js';
import type { UsersRepository } from '../users/repository.js';
import type { NewUser } from '../users/schemas.js';
import { toActor, type UsersService } from '../users/service.js';
import type { LoginLimiter } from './login-limiter.js';
import { hashPassword, verifyPassword } from './password.js';
import { type Actor, requireUser } from '../access/permissions.js';
import type { AuthRepository } from './repository.js';

export const SESSION_DAYS = 30;
export const TOKEN_PREFIX = 'isk_';

const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');
const secret = () => randomBytes(32).toString('base64url');

export interface ApiToken {
  id: number;
  name: string;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
}

export class AuthService {
  // A hash to compare against when the account does not exist, so a wrong username
  // takes as long as a wrong password and does not reveal which accounts exist.
  private readonly dummyHash = hashPassword(secret());

  constructor(
    private readonly deps: {
      repo: AuthRepository;
      usersRepo: UsersRepository;
      users: UsersService;
      settings: SettingsService;
      limiter: LoginLimiter;
    },
  ) {}

  /** Open sign-up creates a reader; an admin can close it in the settings. */
  async register(input: NewUser) {
    const { registrationOpen } = await this.deps.settings.get();
    if (!registrationOpen)
      throw new AppError(403, 'registration_closed', 'Registration is closed on this site.');
    return this.deps.users.create(input, 'reader');
  }

  async needsSetup(): Promise<boolean> {
    return (await this.deps.users.count()) === 0;
  }

  /** Creates the first admin; refused once any user exists. */
  async setup(input: NewUser) {
    const setupDone = () => forbidden('Setup is done: this site already has users.');
    if (!(await this.needsSetup())) throw setupDone();
    const user = await this.deps.users.create(input, 'admin', { onlyFirst: true });
    if (!user) throw setupDone();
    return user;
  }

  async login(login: string, password: string, ip: string) {
    const typed = login.trim().toLowerCase();
    const user = await this.deps.usersRepo.getByLogin(typed);
    // One counter per account, whether it is reached by username or email.
    const account = user ? `user:${user.id}` : `login:${typed}`;
    const wait = this.deps.limiter.retryAfter(ip, account);
    if (wait > 0) throw tooManyRequests(wait, `Too many failed sign-ins; try again in ${wait} seconds.`);
    // Counted before the slow hash check, so parallel guesses cannot all slip under the limit.
    this.deps.limiter.recordAttempt(ip, account);
    const ok = await verifyPassword(password, user?.password_hash ?? (await this.dummyHash));
    if (!user || !ok) {
      throw new AppError(401, 'invalid_credentials', 'Wrong username, email or password.', {
        login: 'wrong username, email or password',
      });
    }
    this.deps.limiter.recordSuccess(ip, account);
    return user;
  }

  /** Returns the cookie's token; only its hash is stored. */
  async createSession(userId: number, userAgent: string): Promise<string> {
    const token = secret();
    const now = new Date();
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
    const session = await this.deps.repo.getSession(sha256(token));
    if (!session) return null;
    if (session.expires_at <= nowIso()) {
      await this.deps.repo.deleteSession(session.id);
      return null;
    }
    const user = await this.deps.usersRepo.get(session.user_id);
    return user ? toActor(user) : null;
  }

  async logout(token: string): Promise<void> {
    await this.deps.repo.deleteSession(sha256(token));
  }

  /** Changes the password and signs out every other session of the user. */
  async changePassword(actor: Actor | null, current: string, next: string, keepSessionToken?: string) {
    requireUser(actor);
    const user = await this.deps.usersRepo.get(actor.id);
    if (!user) throw unauthorized();
    if (!(await verifyPassword(current, user.password_hash))) {
      throw fieldError('currentPassword', 'current password is wrong');
    }
    if (next.length < 8) throw fieldError('newPassword', 'newPassword must be at least 8 characters');
    await this.deps.repo.replacePassword(
      user.id,
      await hashPassword(next),
      nowIso(),
      keepSessionToken ? sha256(keepSessionToken) : undefined,
    );
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
      createdAt: nowIso(),
    });
    return { token, record: this.toApiToken(row) };
  }

  async listTokens(actor: Actor | null): Promise<ApiToken[]> {
    requireUser(actor);
    return (await this.deps.repo.listTokens(actor.id)).map((row) => this.toApiToken(row));
  }

  async revokeToken(actor: Actor | null, id: number): Promise<void> {
    requireUser(actor);
    if (!(await this.deps.repo.deleteToken(id, actor.id))) throw notFound('Token');
  }

  async resolveToken(token: string): Promise<Actor | null> {
    if (!token.startsWith(TOKEN_PREFIX)) return null;
    const row = await this.deps.repo.getTokenByHash(sha256(token));
    if (!row) return null;
    const user = await this.deps.usersRepo.get(row.user_id);
    if (!user) return null;
    // Recording use is bookkeeping: a failure here must not fail the request.
    void this.deps.repo.touchToken(row.id, nowIso()).catch(() => {});
    return toActor(user);
  }
}
