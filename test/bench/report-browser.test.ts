import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readResults } from '../../src/bench/read-results.js';
import { renderReport } from '../../src/bench/report/index.js';
import { haveChromium, launchChromium, SHOTS } from '../helpers/browser.js';
import { hostileResults } from '../fixtures/bench/hostile.js';

// The report as a person opens it: a file in Chromium with the network off. Every tab is
// opened and each of its charts must have drawn something (the original design's charts were
// blank in every tab but the first); going back must not break a chart drawn before.
const FIXTURES = ['load', 'cache', 'concurrency', 'ratio'].map((kind) => `test/fixtures/bench/${kind}.json`);

describe.skipIf(!haveChromium)('the bench report in a real browser', () => {
  let browser: Browser;
  let folder: string;

  beforeAll(async () => {
    browser = await launchChromium();
    folder = mkdtempSync(join(tmpdir(), 'inkstone-report-'));
    mkdirSync(SHOTS, { recursive: true });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    if (folder) rmSync(folder, { recursive: true, force: true });
  });

  /** Opens a report offline; collects console errors, page errors and any request off disk. */
  async function open(html: string, name: string, width = 1200) {
    const file = join(folder, name);
    writeFileSync(file, html);
    const context = await browser.newContext({ offline: true, viewport: { width, height: 900 } });
    context.setDefaultTimeout(10_000);
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('request', (request) => {
      if (!request.url().startsWith('file:')) problems.push(`request: ${request.url()}`);
    });
    await page.goto(pathToFileURL(file).href);
    return { page, problems };
  }

  /** Each chart in the shown panel: its canvas size, its box's width, and how many pixels it painted. */
  const shownCharts = (page: Page) =>
    page.evaluate(() =>
      Array.from(document.querySelectorAll('[role="tabpanel"]:not([hidden]) [data-chart]')).map((box) => {
        const canvas = box.querySelector('canvas');
        let painted = 0;
        if (canvas && canvas.width > 0 && canvas.height > 0) {
          const pixels = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
          for (let i = 3; i < pixels.length; i += 4) if (pixels[i]! > 0) painted++;
        }
        return {
          id: box.getAttribute('data-chart'),
          width: canvas?.getBoundingClientRect().width ?? 0,
          height: canvas?.getBoundingClientRect().height ?? 0,
          boxWidth: box.getBoundingClientRect().width,
          painted,
        };
      }),
    );

  async function expectChartsDrawn(page: Page, tab: string) {
    const charts = await shownCharts(page);
    expect(charts.length, tab).toBeGreaterThan(0);
    for (const chart of charts) {
      expect(chart.width, `${tab} ${chart.id}`).toBeGreaterThan(200);
      expect(chart.height, `${tab} ${chart.id}`).toBeGreaterThan(100);
      // The canvas fills its box: it was sized while shown, not while hidden (0 px).
      expect(Math.abs(chart.width - chart.boxWidth), `${tab} ${chart.id}`).toBeLessThan(30);
      // Axes, grid and data: thousands of pixels; a blank canvas has none.
      expect(chart.painted, `${tab} ${chart.id}`).toBeGreaterThan(2000);
    }
  }

  it(
    'opens offline; every tab draws its charts; tabs do not break each other',
    { timeout: 60_000 },
    async () => {
      const html = renderReport(
        FIXTURES.map((file) => readResults(file)),
        { sources: FIXTURES, lang: 'en' },
      );
      const { page, problems } = await open(html, 'report.html');
      await page.screenshot({ path: `${SHOTS}/bench-report-summary.png` });
      const tabs = page.getByRole('tab');
      const names = await tabs.allTextContents();
      expect(names).toHaveLength(4);
      for (const [i, name] of names.entries()) {
        await tabs.nth(i).click();
        await expect.poll(() => tabs.nth(i).getAttribute('aria-selected')).toBe('true');
        expect(await page.locator('[role="tabpanel"]:not([hidden])').count()).toBe(1);
        await expectChartsDrawn(page, name);
        await page.locator('[role="tabpanel"]:not([hidden])').screenshot({
          path: `${SHOTS}/bench-report-${name.split(' · ')[1]!.replace(/\W+/g, '-').toLowerCase()}.png`,
        });
      }
      // Back to the first tab after the window changed size while it was hidden: its charts
      // follow the new width.
      await page.setViewportSize({ width: 900, height: 900 });
      await tabs.nth(0).click();
      await expectChartsDrawn(page, `${names[0]} again`);

      // Keyboard: arrows move between tabs and select them.
      await tabs.nth(0).focus();
      await page.keyboard.press('ArrowRight');
      await expect.poll(() => tabs.nth(1).getAttribute('aria-selected')).toBe('true');
      expect(await page.evaluate(() => document.activeElement?.getAttribute('role'))).toBe('tab');
      expect(await tabs.nth(0).getAttribute('aria-selected')).toBe('false');
      await page.keyboard.press('End');
      await expect.poll(() => tabs.nth(3).getAttribute('aria-selected')).toBe('true');
      await expectChartsDrawn(page, names[3]!);

      // The table under a chart reads the same as the chart's legend under the cursor.
      await tabs.nth(2).click();
      const firstChart = page.locator('[role="tabpanel"]:not([hidden]) .u-over').first();
      const box = (await firstChart.boundingBox())!;
      await page.mouse.move(box.x + 2, box.y + box.height / 2);
      const legend = await page.locator('[role="tabpanel"]:not([hidden]) .u-legend').first().textContent();
      const firstRow = await page
        .locator('[role="tabpanel"]:not([hidden]) table')
        .first()
        .locator('tbody tr')
        .first();
      const cells = await firstRow.locator('td .v').allTextContents();
      for (const value of cells.slice(1)) expect(legend).toContain(value);

      // The results the report was made from download as the file they came from.
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.locator('[data-download="2"]').click(),
      ]);
      expect(download.suggestedFilename()).toBe('results-3.json');
      expect(JSON.parse(readFileSync((await download.path())!, 'utf8'))).toEqual(readResults(FIXTURES[2]!));

      expect(problems).toEqual([]);
    },
  );

  it('a Chinese report shows its labels in a CJK font', { timeout: 30_000 }, async () => {
    const html = renderReport([readResults(FIXTURES[2]!)], { lang: 'zh' });
    const { page, problems } = await open(html, 'report-zh.html');
    expect(await page.evaluate(() => document.documentElement.lang)).toBe('zh-CN');
    await expect.poll(() => page.getByRole('heading', { name: '吞吐量与并发数' }).isVisible()).toBe(true);
    await expectChartsDrawn(page, 'zh');
    // The fonts Chromium drew the heading with: a CJK face, and every glyph found (no boxes).
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('DOM.enable');
    await cdp.send('CSS.enable');
    const { root } = await cdp.send('DOM.getDocument');
    const { nodeId } = await cdp.send('DOM.querySelector', { nodeId: root.nodeId, selector: '.block h3' });
    const { fonts } = await cdp.send('CSS.getPlatformFontsForNode', { nodeId });
    const text = await page.locator('.block h3').first().textContent();
    const glyphs = fonts.reduce((sum, font) => sum + font.glyphCount, 0);
    expect(glyphs).toBe([...text!].length);
    expect(fonts.map((font) => font.familyName).join(', ')).toMatch(
      /Hei|CJK|Han|PingFang|YaHei|Noto Sans SC/,
    );
    await page.screenshot({ path: `${SHOTS}/bench-report-zh.png`, fullPage: true });
    expect(problems).toEqual([]);
  });

  it('runs no script from a hostile results file', { timeout: 30_000 }, async () => {
    const { page, problems } = await open(
      renderReport([hostileResults()], { lang: 'en' }),
      'report-hostile.html',
    );
    await expectChartsDrawn(page, 'hostile');
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(await page.locator('img').count()).toBe(0);
    // The hostile endpoint name is shown as text, as it was written.
    await expect
      .poll(() => page.getByText('</script><script>window.__pwned=1</script> — ').first().isVisible())
      .toBe(true);
    expect(problems).toEqual([]);
  });
});
