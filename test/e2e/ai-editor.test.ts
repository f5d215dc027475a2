import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeModelServer, startFakeModelServer } from '../fakes/model-server.js';
import { haveChromium, launchChromium, logIn, SHOTS } from '../helpers/browser.js';
import { createTestApp, type TestApp } from '../helpers/app.js';

// An author drafts a post with the writing assistant against the fake model server (a
// simulator speaking Ollama), slowed down so the text visibly arrives in pieces.
describe.skipIf(!haveChromium)('AI writing in the editor, in a real browser', () => {
  let site: TestApp;
  let app: FastifyInstance;
  let fake: FakeModelServer;
  let browser: Browser;
  let base: string;

  beforeAll(async () => {
    fake = await startFakeModelServer({ ttftMs: 50, interTokenMs: 40 });
    site = await createTestApp('sqlite', { AI_PROVIDER: 'ollama', AI_BASE_URL: fake.url });
    app = site.app;
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    await app.services.users.create(
      { username: 'writer', email: 'writer@example.com', password: 'a long password' },
      'admin',
    );
    browser = await launchChromium();
    mkdirSync(SHOTS, { recursive: true });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await site?.close();
    await fake?.close();
  });

  it('drafts from a Chinese title as a stream, stops, regenerates, accepts and publishes', async () => {
    const page = await browser.newPage({ viewport: { width: 1200, height: 1000 } });
    page.setDefaultTimeout(10_000);
    await logIn(page, base, 'writer', 'a long password');
    await page.goto(`${base}/write`);

    const title = '春天里的一杯茶';
    await page.getByLabel('Title', { exact: true }).fill(title);
    const output = page.locator('#ai-output');
    const status = page.locator('.ai-status');

    // The text arrives in pieces, before the answer is over.
    await page.getByRole('button', { name: 'Draft with AI' }).click();
    await expect.poll(() => output.inputValue()).toMatch(/回声/);
    const early = (await output.inputValue()).length;
    await expect.poll(async () => (await output.inputValue()).length).toBeGreaterThan(early);
    expect(await status.textContent()).toContain('Writing');
    await page.screenshot({ path: `${SHOTS}/editor-ai-streaming.png` });

    // Stop ends the model call on the server at once.
    await page.getByRole('button', { name: 'Stop' }).click();
    await expect.poll(() => status.textContent()).toContain('Stopped');
    await fake.waitFor((s) => s.inFlight === 0);
    expect(fake.stats.requests[0]!.aborted).toBe(true);
    const stoppedAt = (await output.inputValue()).length;

    // Regenerate asks again (not the cache) and runs to the end.
    await page.getByRole('button', { name: 'Regenerate' }).click();
    await expect.poll(() => status.textContent(), { timeout: 20_000 }).toContain('Written by glm4');
    expect(fake.stats.requests).toHaveLength(2);
    const draft = await output.inputValue();
    expect(draft.length).toBeGreaterThan(stoppedAt);
    // The prompt asked for the post's language.
    const prompt = JSON.stringify(fake.stats.requests[1]!.body);
    expect(prompt).toContain('Chinese');

    await page.getByRole('button', { name: 'Accept' }).click();
    expect(await page.getByLabel('Body (Markdown)').inputValue()).toBe(draft);
    await expect.poll(() => page.locator('#preview').textContent()).toContain('回声');

    await page.getByLabel('Status').selectOption('published');
    await page.getByRole('button', { name: 'Create post' }).click();
    await expect.poll(() => page.locator('.flash-success').textContent()).toContain('Saved and published');
    await page.goto(`${base}/`);
    await page.getByRole('link', { name: title }).click();
    await expect.poll(() => page.locator('.prose').textContent()).toContain('回声');
  }, 90_000);

  it('continues, rewrites and polishes a selection, and fills the excerpt, a title and tags', async () => {
    fake.set({ ttftMs: 0, interTokenMs: 0 });
    const page = await browser.newPage({ viewport: { width: 1200, height: 1000 } });
    page.setDefaultTimeout(10_000);
    await logIn(page, base, 'writer', 'a long password');
    await page.goto(`${base}/write`);
    const body = page.getByLabel('Body (Markdown)');
    const status = page.locator('.ai-status');
    const ask = async (button: string) => {
      await page.getByRole('button', { name: button, exact: true }).click();
      await expect.poll(() => status.textContent()).toContain('Written by glm4');
      await page.getByRole('button', { name: 'Accept' }).click();
    };
    await page.getByLabel('Title', { exact: true }).fill('Green tea');
    await body.fill('First paragraph about tea.');

    // Continue: appended after the cursor, as a new paragraph.
    await body.evaluate((el: HTMLTextAreaElement) => el.setSelectionRange(el.value.length, el.value.length));
    await ask('Continue');
    const continued = await body.inputValue();
    expect(continued.startsWith('First paragraph about tea.\n\nEcho: Continue this blog post')).toBe(true);

    // Rewrite and polish replace only the selected words.
    await body.fill('Keep this. Change this part. Keep that.');
    await body.evaluate((el: HTMLTextAreaElement) => el.setSelectionRange(11, 28));
    await page.getByPlaceholder('Rewrite how?').fill('warmer');
    await ask('Rewrite');
    const rewritten = await body.inputValue();
    expect(rewritten.startsWith('Keep this. Echo: Rewrite the following passage')).toBe(true);
    expect(rewritten.endsWith(' Keep that.')).toBe(true);
    expect(JSON.stringify(fake.stats.requests.at(-1)!.body)).toContain('(warmer)');
    await body.fill('Fix thiss sentence.');
    await body.evaluate((el: HTMLTextAreaElement) => el.setSelectionRange(0, el.value.length));
    await ask('Polish');
    expect(await body.inputValue()).toMatch(/^Echo: Polish the following passage/);

    // Polish with nothing selected says so, without calling the model.
    const calls = fake.stats.requests.length;
    await body.evaluate((el: HTMLTextAreaElement) => el.setSelectionRange(0, 0));
    await page.getByRole('button', { name: 'Polish', exact: true }).click();
    await expect.poll(() => status.textContent()).toContain('Select the text to polish');
    expect(fake.stats.requests).toHaveLength(calls);

    await ask('Excerpt');
    expect(await page.getByLabel('Excerpt').inputValue()).toMatch(/^Echo: Summarise this blog post/);
    await ask('Tags');
    expect(await page.getByLabel('Tags').inputValue()).toMatch(/^Echo: Suggest three to six short tags/);
    await ask('Titles');
    // The first line, without list marks or quotes.
    expect(await page.getByLabel('Title', { exact: true }).inputValue()).toMatch(
      /^Echo: Suggest five titles/,
    );
  }, 90_000);
});
