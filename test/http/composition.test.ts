import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/clock.js';
import { loadConfig } from '../../src/config.js';
import { createServices } from '../../src/services.js';
import { type PasswordHasher, scryptHasher } from '../../src/modules/users/password.js';
import { toActor } from '../../src/modules/users/service.js';
import { Client, createTestApp, createUser, type TestApp } from '../helpers/app.js';
import { availableDialects } from '../helpers/db.js';

/** A clock the test moves by hand. */
class ManualClock implements Clock {
  constructor(private at: Date) {}
  now() {
    return new Date(this.at);
  }
  advance(days: number) {
    this.at = new Date(this.at.getTime() + days * 86_400_000);
  }
}

/** A real (cheap) hasher that counts its work. */
function countingHasher(): PasswordHasher & { hashes: number; verifies: number } {
  const inner = scryptHasher(2 ** 10);
  const counter = {
    hashes: 0,
    verifies: 0,
    hash: (password: string) => {
      counter.hashes++;
      return inner.hash(password);
    },
    verify: (password: string, stored: string) => {
      counter.verifies++;
      return inner.verify(password, stored);
    },
  };
  return counter;
}

// buildApp's overrides reach every service through the one composition root.
describe.each(await availableDialects())('injected collaborators on %s', (dialect) => {
  let t: TestApp;
  const clock = new ManualClock(new Date('2031-05-06T07:08:09.000Z'));
  const hasher = countingHasher();

  beforeAll(async () => {
    t = await createTestApp(dialect, {}, { clock, passwordHasher: hasher });
  });
  afterAll(async () => t?.close());

  it('stamps new users with the injected clock and hashes with the injected hasher', async () => {
    const before = hasher.hashes;
    const client = new Client(t.app);
    const response = await client.api('POST', '/api/v1/auth/register', {
      username: 'clocked',
      email: 'clocked@example.com',
      password: 'correct horse battery',
    });
    expect(response.statusCode).toBe(201);
    expect(response.json().user.createdAt).toBe(clock.now().toISOString());
    expect(clock.now().getUTCFullYear()).toBe(2031);
    expect(hasher.hashes).toBe(before + 1);
  });

  it('signs in through the injected hasher and expires sessions by the injected clock', async () => {
    const user = await createUser(t.app, 'author');
    const verifies = hasher.verifies;
    const client = await new Client(t.app).login(user.username, user.password);
    expect(hasher.verifies).toBe(verifies + 1);
    expect((await client.get('/api/v1/auth/me')).statusCode).toBe(200);
    clock.advance(29);
    expect((await client.get('/api/v1/auth/me')).statusCode).toBe(200);
    clock.advance(2);
    expect((await client.get('/api/v1/auth/me')).statusCode).toBe(401);
  });

  it('records when an API token was last used, at most once a minute', async () => {
    const actor = toActor(await createUser(t.app, 'author'));
    const { token, record } = await t.app.services.auth.createToken(actor, 'script');
    const lastUsed = async () =>
      (await t.app.services.auth.listTokens(actor)).find((r) => r.id === record.id)?.lastUsedAt;
    const call = () =>
      t.app.inject({ url: '/api/v1/auth/me', headers: { authorization: `Bearer ${token}` } });

    expect((await call()).statusCode).toBe(200);
    const first = clock.now().toISOString();
    await expect.poll(lastUsed).toBe(first);
    clock.advance(30 / 86_400);
    await call();
    // Within the minute: no write.
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await lastUsed()).toBe(first);
    clock.advance(40 / 86_400);
    await call();
    await expect.poll(lastUsed).toBe(clock.now().toISOString());
  });

  it('acts on a changed role or a revoked token at once here, and within 5 s on another instance', async () => {
    // A second instance over the same database: its own services, so its own caches.
    const other = createServices(t.database.handle, loadConfig({ NODE_ENV: 'test' }), { clock });
    const admin = toActor(await createUser(t.app, 'admin'));
    const user = await createUser(t.app, 'author');
    const { token, record } = await t.app.services.auth.createToken(toActor(user), 'cached');
    const here = () => t.app.services.auth.resolveToken(token);
    const there = () => other.auth.resolveToken(token);
    const seconds = (s: number) => clock.advance(s / 86_400);
    try {
      expect((await here())?.role).toBe('author');
      expect((await there())?.role).toBe('author');

      await t.app.services.users.setRole(admin, user.id, 'reader');
      expect((await here())?.role).toBe('reader');
      seconds(4.9);
      expect((await there())?.role).toBe('author');
      seconds(0.2);
      expect((await there())?.role).toBe('reader');

      await t.app.services.auth.revokeToken(toActor({ ...user, role: 'reader' }), record.id);
      expect(await here()).toBeNull();
      seconds(5.1);
      expect(await there()).toBeNull();
    } finally {
      await other.ai.close();
    }
  });
});
