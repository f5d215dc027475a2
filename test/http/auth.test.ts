import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, createTestApp, createUser, type TestApp } from '../helpers/app.js';
import { availableDialects } from '../helpers/db.js';

const dialects = await availableDialects();

// Setup needs a site without users, so it gets one of its own.
describe.each(dialects)('first-run setup on %s', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(dialect);
  });
  afterAll(async () => t?.close());

  it('sends a fresh site to /setup, creates the first admin once, then closes setup', async () => {
    const browser = new Client(t.app);
    const login = await browser.get('/login');
    expect(login.statusCode).toBe(302);
    expect(login.headers.location).toBe('/setup');
    expect((await browser.get('/setup')).body).toContain('Set up your blog');

    const created = await browser.form('/setup', {
      username: 'Founder',
      email: 'founder@example.com',
      password: 'a long secret',
    });
    expect(created.statusCode).toBe(303);
    const me = await browser.api('GET', '/api/v1/auth/me');
    expect(me.json().user).toMatchObject({
      username: 'founder',
      role: 'admin',
      email: 'founder@example.com',
    });

    const again = await new Client(t.app).form('/setup', {
      username: 'intruder',
      email: 'intruder@example.com',
      password: 'a long secret',
    });
    expect(again.statusCode).toBe(403);
    expect(await t.app.services.users.count()).toBe(1);
  });
});

describe.each(dialects)('auth over HTTP on %s', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(dialect, { LOGIN_MAX_PER_ACCOUNT: '3' });
    // A site past setup, as every test here expects; none relies on who the admin is.
    await createUser(t.app, 'admin');
  });
  afterAll(async () => t?.close());

  it('registers a reader through the API and names the bad field on invalid input', async () => {
    const client = new Client(t.app);
    const bad = await client.api('POST', '/api/v1/auth/register', {
      username: 'x',
      email: 'nope',
      password: 'short',
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('validation_failed');
    expect(Object.keys(bad.json().error.fields)).toContain('username');

    const ok = await client.api('POST', '/api/v1/auth/register', {
      username: 'reader_one',
      email: 'r1@example.com',
      password: 'long enough pw',
    });
    expect(ok.statusCode).toBe(201);
    expect(ok.json().user.role).toBe('reader');

    const taken = await new Client(t.app).api('POST', '/api/v1/auth/register', {
      username: 'READER_ONE',
      email: 'other@example.com',
      password: 'long enough pw',
    });
    expect(taken.statusCode).toBe(409);
    expect(taken.json().error.fields).toHaveProperty('username');
  });

  it('refuses a form post without the CSRF token', async () => {
    const client = new Client(t.app);
    await client.get('/login');
    const response = await client.request({
      method: 'POST',
      url: '/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'login=founder&password=a+long+secret',
    });
    expect(response.statusCode).toBe(403);
    expect(response.body).toContain('another site');
  });

  it('refuses a JSON write with a session cookie but no x-csrf-token', async () => {
    const user = await createUser(t.app, 'reader');
    const client = await new Client(t.app).login(user.username, user.password);
    const response = await client.request({
      method: 'PATCH',
      url: '/api/v1/users/me',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ bio: 'hi' }),
    });
    expect(response.statusCode).toBe(403);
    expect(response.json().error.code).toBe('csrf_failed');
  });

  it('limits failed logins per account with 429 and Retry-After', async () => {
    const user = await createUser(t.app, 'reader');
    const client = new Client(t.app);
    for (let i = 0; i < 3; i++) {
      const wrong = await client.api('POST', '/api/v1/auth/login', {
        login: user.username,
        password: 'wrong one!',
      });
      expect(wrong.statusCode).toBe(401);
    }
    const blocked = await client.api('POST', '/api/v1/auth/login', {
      login: user.username,
      password: user.password,
    });
    expect(blocked.statusCode).toBe(429);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('creates, uses and revokes an API token', async () => {
    const user = await createUser(t.app, 'author');
    const client = await new Client(t.app).login(user.email, user.password);
    const created = await client.api('POST', '/api/v1/tokens', { name: 'laptop' });
    expect(created.statusCode).toBe(201);
    const { token, record } = created.json();
    expect(token).toMatch(/^isk_/);

    const bearer = { authorization: `Bearer ${token}` };
    const me = await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer });
    expect(me.json().user.username).toBe(user.username);
    const list = await client.api('GET', '/api/v1/tokens');
    expect(list.json().items).toEqual([
      expect.objectContaining({ name: 'laptop', prefix: token.slice(0, 10) }),
    ]);
    expect(JSON.stringify(list.json())).not.toContain(token);

    expect((await client.api('DELETE', `/api/v1/tokens/${record.id}`)).statusCode).toBe(204);
    const after = await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer });
    expect(after.statusCode).toBe(401);
  });

  it('changing the password signs out the other sessions but keeps this one', async () => {
    const user = await createUser(t.app, 'reader');
    const laptop = await new Client(t.app).login(user.username, user.password);
    const phone = await new Client(t.app).login(user.username, user.password);
    const wrong = await laptop.api('PUT', '/api/v1/auth/password', {
      currentPassword: 'nope',
      newPassword: 'brand new pw',
    });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json().error.fields).toHaveProperty('currentPassword');

    const changed = await laptop.api('PUT', '/api/v1/auth/password', {
      currentPassword: user.password,
      newPassword: 'brand new pw',
    });
    expect(changed.statusCode).toBe(204);
    expect((await laptop.api('GET', '/api/v1/auth/me')).statusCode).toBe(200);
    expect((await phone.api('GET', '/api/v1/auth/me')).statusCode).toBe(401);
    await new Client(t.app).login(user.username, 'brand new pw');
  });

  it('logs out', async () => {
    const user = await createUser(t.app, 'reader');
    const client = await new Client(t.app).login(user.username, user.password);
    expect((await client.api('POST', '/api/v1/auth/logout')).statusCode).toBe(204);
    expect((await client.api('GET', '/api/v1/auth/me')).statusCode).toBe(401);
  });

  it('answers 413 with the error shape for a body over the limit', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ login: 'x', password: 'y'.repeat(2 * 1024 * 1024) }),
    });
    expect(response.statusCode).toBe(413);
    expect(response.json().error.code).toBe('payload_too_large');
  });
});
