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
import { UsersRepository } from './modules/users/repository.js';
import { UsersService } from './modules/users/service.js';

/** The composition root: every service gets exactly the collaborators it uses. */
export function createServices(handle: DbHandle, config: Config) {
  const { db } = handle;
  const usersRepo = new UsersRepository(db);
  const users = new UsersService(usersRepo);
  const settings = new SettingsService(new SettingsRepository(db));
  const auth = new AuthService({
    repo: new AuthRepository(db),
    usersRepo,
    users,
    settings,
    limiter: new LoginLimiter(config.login),
  });
  const posts = new PostsService(new PostsRepository(db, handle.dialect));
  const comments = new CommentsService(new CommentsRepository(db), (postId, actor) =>
    posts.get(postId, actor),
  );
  return { users, settings, auth, posts, comments };
}

export type Services = ReturnType<typeof createServices>;
