import { type Clock, systemClock } from './clock.js';
import type { Config } from './config.js';
import type { DbHandle } from './db/index.js';
import { LoginLimiter } from './modules/auth/login-limiter.js';
import { AuthRepository } from './modules/auth/repository.js';
import { AuthService } from './modules/auth/service.js';
import { CommentsRepository } from './modules/comments/repository.js';
import { CommentsService } from './modules/comments/service.js';
import { PostsRepository } from './modules/posts/repository.js';
import { PostsService } from './modules/posts/service.js';
import { SettingsRepository } from './modules/settings/repository.js';
import { SettingsService } from './modules/settings/service.js';
import { type PasswordHasher, scryptHasher } from './modules/users/password.js';
import { UsersRepository } from './modules/users/repository.js';
import { UsersService } from './modules/users/service.js';

/**
 * The outside parts services are built from. Tests (and later the AI, cache, queue and
 * metrics plugins) pass their own; anything not given gets the production default.
 */
export interface Collaborators {
  clock: Clock;
  passwordHasher: PasswordHasher;
}

export type ServiceOverrides = Partial<Collaborators>;

/** The composition root: every service gets exactly the collaborators it uses. */
export function createServices(handle: DbHandle, config: Config, overrides: ServiceOverrides = {}) {
  const { db } = handle;
  const clock = overrides.clock ?? systemClock;
  const hasher = overrides.passwordHasher ?? scryptHasher();
  const users = new UsersService({ repo: new UsersRepository(db), hasher, clock });
  const settings = new SettingsService(new SettingsRepository(db));
  const auth = new AuthService({
    repo: new AuthRepository(db),
    users,
    settings,
    limiter: new LoginLimiter(config.login, () => clock.now().getTime()),
    clock,
  });
  const posts = new PostsService(new PostsRepository(db, handle.dialect), clock);
  const comments = new CommentsService({ repo: new CommentsRepository(db), posts, clock });
  return { users, settings, auth, posts, comments };
}

export type Services = ReturnType<typeof createServices>;
