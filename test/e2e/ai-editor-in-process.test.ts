import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { writeTinyGguf } from '../fakes/tiny-gguf.js';
import { haveChromium, launchChromium, logIn, SHOTS } from '../helpers/browser.js';
import { createTestApp, type TestApp } from '../helpers/app.js';

// Every writing feature in a real browser against real inference: AI_PROVIDER=llamacpp runs
// the tiny counting model the suite writes (tiny-gguf.ts) inside the Inkstone process. Its
// greedy answer to a prompt that does not end in a number word counts " one two … ten" and
// ends; after the writing prompts (long for a character-level vocabulary, hence a copy of
// the model that declares a 4,096-token context) the small attention noise, summed over a
// thousand positions, can put a few other tokens before the count, always the same ones.
const COUNT = /one two three four five six seven eight nine ten\s*$/;

describe.skipIf(!haveChromium)('AI writing in the editor with the in-process GGUF model', () => {
  let site: TestApp;
  let browser: Browser;
  let base: string;

  beforeAll(async () => {
    const modelPath = await writeTinyGguf(join(inject('testDataFolder'), `editor-tiny-${process.pid}.gguf`), {
      contextLength: 4096,
      // The prompts sample at temperatures up to 0.8; at the default margin a word now and then
      // strayed and the answer fell apart (1 run in ~5). This model is sure of the next word.
      nextWeight: 1.5,
    });
    site = await createTestApp('sqlite', {
      AI_PROVIDER: 'llamacpp',
      AI_MODEL_PATH: modelPath,
      AI_MODEL: 'tiny-counter',
      AI_CONCURRENCY: '1',
    });
    await site.app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(site.app.server.address() as AddressInfo).port}`;
    await site.app.services.users.create(
      { username: 'counter', email: 'counter@example.com', password: 'a long password' },
      'author',
    );
    browser = await launchChromium();
    mkdirSync(SHOTS, { recursive: true });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await site?.close();
  });

  it('drafts, continues, rewrites, polishes, and fills the excerpt, tags and a title', async () => {
    const page = await browser.newPage({ viewport: { width: 1200, height: 1000 } });
    page.setDefaultTimeout(20_000);
    await logIn(page, base, 'counter', 'a long password');
    await page.goto(`${base}/write`);
    const body = page.getByLabel('Body (Markdown)');
    const output = page.locator('#ai-output');
    const status = page.locator('.ai-status');
    const ask = async (button: string) => {
      await page.getByRole('button', { name: button, exact: true }).click();
      await expect.poll(() => status.textContent(), { timeout: 20_000 }).toContain('Written by tiny-counter');
      expect(await output.inputValue()).toMatch(COUNT);
      await page.getByRole('button', { name: 'Accept' }).click();
    };

    await page.getByLabel('Title', { exact: true }).fill('Counting sheep');
    await ask('Draft with AI');
    expect(await body.inputValue()).toMatch(COUNT);
    await page.screenshot({ path: `${SHOTS}/editor-ai-in-process.png` });

    // Continue: after the cursor, as a new paragraph.
    await body.fill('Sheep, counted.');
    await body.evaluate((el: HTMLTextAreaElement) => el.setSelectionRange(el.value.length, el.value.length));
    await ask('Continue');
    expect(await body.inputValue()).toMatch(/^Sheep, counted\.\n\n.*one two three .* ten\s*$/s);

    // Rewrite and polish replace only the selection.
    await body.fill('Keep this. Change this part. Keep that.');
    await body.evaluate((el: HTMLTextAreaElement) => el.setSelectionRange(11, 28));
    await page.getByPlaceholder('Rewrite how?').fill('shorter');
    await ask('Rewrite');
    expect(await body.inputValue()).toMatch(/^Keep this\. .*one two .* ten\s* Keep that\.$/s);
    await body.evaluate((el: HTMLTextAreaElement) => el.setSelectionRange(0, 9));
    await ask('Polish');
    expect(await body.inputValue()).toMatch(/^.*one two .* ten\s*\. .*Keep that\.$/s);

    await ask('Excerpt');
    expect(await page.getByLabel('Excerpt').inputValue()).toMatch(COUNT);
    await ask('Tags');
    expect(await page.getByLabel('Tags').inputValue()).toMatch(/one/);
    await ask('Titles');
    expect(await page.getByLabel('Title', { exact: true }).inputValue()).toMatch(COUNT);

    // Every answer came from the model (none from the cache) and is on the record.
    const rows = await site.app.database.db
      .selectFrom('generations')
      .select(['provider', 'status', 'cached'])
      .execute();
    expect(rows).toHaveLength(7);
    expect(rows.every((r) => r.provider === 'main' && r.status === 'completed' && r.cached === 0)).toBe(true);
  }, 120_000);
});
