import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, createUser, type TestApp } from '../helpers/app.js';
import { haveChromium, launchChromium, logIn, SHOTS } from '../helpers/browser.js';

// An admin watches /admin/metrics in Chromium: uPlot draws every chart, the page logs no
// error, and the request rate climbs when traffic arrives.

describe.skipIf(!haveChromium)('/admin/metrics in a real browser', () => {
  let site: TestApp;
  let browser: Browser;
  let base: string;

  beforeAll(async () => {
    site = await createTestApp('sqlite');
    await site.app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(site.app.server.address() as AddressInfo).port}`;
    browser = await launchChromium();
    mkdirSync(SHOTS, { recursive: true });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await site?.close();
  });

  it('draws the charts and shows the request rate move after traffic', { timeout: 60_000 }, async () => {
    const admin = await createUser(site.app, 'admin');
    const context = await browser.newContext({ viewport: { width: 1200, height: 1000 } });
    context.setDefaultTimeout(15_000);
    const page: Page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    page.on('pageerror', (error) => problems.push(error.message));
    // A script or stylesheet that fails to load is a problem; a load that the next navigation
    // cancels (the favicon, between two pages) is not.
    page.on('requestfailed', (failed) => {
      const reason = failed.failure()?.errorText ?? '';
      if (reason !== 'net::ERR_ABORTED') problems.push(`${failed.url()}: ${reason}`);
    });

    await logIn(page, base, admin.username, admin.password);
    await page.goto(`${base}/admin`);
    await page.getByRole('link', { name: 'Live metrics' }).click();
    await page.waitForURL(`${base}/admin/metrics`);
    // Every second rather than five, so the test waits less.
    await page.goto(`${base}/admin/metrics?every=1`);
    await expect.poll(() => page.locator('.metric-chart canvas').count()).toBe(8);

    const requestsNow = page.locator('figure[data-chart="requests"] .metric-now');
    // The first point appears after two readings; then only the page's own polls arrive.
    await expect.poll(async () => Number(await requestsNow.textContent())).toBeGreaterThan(0);
    const quiet = Number(await requestsNow.textContent());
    expect(quiet).toBeLessThan(10);

    // A burst of readers: the next point's rate is well above the page's own ~1 request/s.
    await Promise.all(
      Array.from({ length: 150 }, () => request(`${base}/`).then((response) => response.body.dump())),
    );
    await expect.poll(async () => Number(await requestsNow.textContent())).toBeGreaterThan(20);
    await expect
      .poll(async () => Number(await page.locator('figure[data-chart="users"] .metric-now').textContent()))
      .toBe(1);
    await expect.poll(() => page.locator('#metrics-status').textContent()).toContain('1 process');
    // uPlot's legend names the latency chart's three lines.
    expect(await page.locator('figure[data-chart="latency"] .u-legend .u-series').allTextContents()).toEqual([
      'p50',
      'p90',
      'p95',
    ]);

    await page.screenshot({ path: `${SHOTS}/admin-metrics.png`, fullPage: true });
    expect(problems).toEqual([]);
    await context.close();
  });
});
