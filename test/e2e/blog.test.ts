import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveChromium, launchChromium, SHOTS } from '../helpers/browser.js';
import { createTestApp, type TestApp } from '../helpers/app.js';

const TITLE = '你好，世界：第一篇文章';
const BODY = [
  '## 开始',
  '',
  'This post says **hello** in two languages.',
  '',
  '<script>window.__xss = "script ran"</script>',
  '',
  '<img src="x" onerror="window.__xss = \'onerror ran\'">',
  '',
  '[click me](javascript:window.__xss=1)',
].join('\n');

describe.skipIf(!haveChromium)('the blog in a real browser', () => {
  let site: TestApp;
  let app: FastifyInstance;
  let browser: Browser;
  let base: string;

  beforeAll(async () => {
    site = await createTestApp('sqlite');
    app = site.app;
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    browser = await launchChromium();
    mkdirSync(SHOTS, { recursive: true });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await site?.close();
  });

  async function newPage(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
    context.setDefaultTimeout(10_000);
    const page = await context.newPage();
    page.on('dialog', (dialog) => {
      throw new Error(`unexpected dialog: ${dialog.message()}`);
    });
    return page;
  }

  it('setup → log in → write and publish → read → register and comment → moderate', async () => {
    // A fresh site points the visitor to /setup.
    const admin = await newPage();
    await admin.goto(base);
    await admin.getByRole('link', { name: 'Set up your blog' }).click();
    await admin.getByLabel('Username').fill('editor_in_chief');
    await admin.getByLabel('Display name').fill('The Editor');
    await admin.getByLabel('Email').fill('chief@example.com');
    await admin.getByLabel('Password').fill('a very long secret');
    await admin.getByRole('button', { name: 'Create admin account' }).click();
    await admin.waitForURL(`${base}/write`);

    // Log out and back in, as a returning admin would.
    await admin.getByRole('button', { name: 'Log out' }).click();
    await admin.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Log in' }).click();
    await admin.getByLabel('Username or email').fill('chief@example.com');
    await admin.getByLabel('Password').fill('a very long secret');
    await admin.getByRole('button', { name: 'Log in' }).click();
    await expect.poll(() => admin.locator('.flash-success').textContent()).toContain('Welcome back');

    // Write with the live preview, then publish.
    await admin.getByRole('link', { name: 'Write' }).click();
    await admin.getByLabel('Title').fill(TITLE);
    await admin.getByLabel('Tags').fill('问候, hello');
    await admin.getByLabel('Body (Markdown)').fill(BODY);
    await expect.poll(() => admin.locator('#preview h2').textContent()).toBe('开始');
    await admin.getByLabel('Status').selectOption('published');
    await admin.getByRole('button', { name: 'Create post' }).click();
    await expect.poll(() => admin.locator('.flash-success').textContent()).toContain('Saved and published');

    // The home page lists it; the post page shows it with every script inert.
    await admin.goto(base);
    await admin.getByRole('link', { name: TITLE }).click();
    await expect.poll(() => admin.locator('h1').textContent()).toBe(TITLE);
    expect(decodeURIComponent(admin.url())).toContain('/posts/你好-世界-第一篇文章');
    await expect.poll(() => admin.locator('.prose strong').textContent()).toBe('hello');
    expect(await admin.locator('.prose a', { hasText: 'click me' }).getAttribute('href')).toBeNull();
    expect(await admin.evaluate(() => (window as unknown as { __xss?: unknown }).__xss)).toBeUndefined();
    expect(await admin.locator('.prose script').count()).toBe(0);
    expect(await admin.locator('.prose [onerror]').count()).toBe(0);
    await admin.screenshot({ path: `${SHOTS}/post.png`, fullPage: true });

    // A second person registers and comments.
    const reader = await newPage();
    await reader.goto(base);
    await reader.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Sign up' }).click();
    await reader.getByLabel('Username').fill('curious_reader');
    await reader.getByLabel('Email').fill('reader@example.com');
    await reader.getByLabel('Password').fill('reader password');
    await reader.getByRole('button', { name: 'Create account' }).click();
    await expect.poll(() => reader.locator('.flash-success').textContent()).toContain('Welcome');
    await reader.getByRole('link', { name: TITLE }).click();
    await reader.getByLabel('Add a comment').fill('Lovely post! <script>window.__xss = 2</script> *谢谢*');
    await reader.getByRole('button', { name: 'Post comment' }).click();
    const comment = reader.locator('.comment').first();
    await expect.poll(() => comment.textContent()).toContain('Lovely post!');
    await expect.poll(() => comment.locator('em').textContent()).toBe('谢谢');
    expect(await reader.evaluate(() => (window as unknown as { __xss?: unknown }).__xss)).toBeUndefined();

    // The admin hides the comment; readers no longer see it.
    await admin.reload();
    await admin.locator('.comment').first().getByRole('button', { name: 'Hide' }).click();
    await expect.poll(() => admin.locator('.flash-success').textContent()).toContain('Comment hidden');
    await expect.poll(() => admin.locator('.comment.is-hidden').count()).toBe(1);
    await reader.reload();
    await expect.poll(() => reader.locator('.comment').count()).toBe(0);
    await expect.poll(() => reader.locator('#comments h2').textContent()).toBe('0 comments');

    await admin.goto(base);
    await admin.screenshot({ path: `${SHOTS}/home.png`, fullPage: true });
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 } });
    await phone.goto(base);
    await phone.screenshot({ path: `${SHOTS}/home-phone.png`, fullPage: true });
  }, 90_000);
});
