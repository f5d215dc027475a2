// Cache: the first (cold) request against warm ones, per page kind.
import type { CacheSection } from '../results.js';
import { formatNumber } from './format.js';
import { type Block, type Card, maybeNum, num, path, text, wideRange } from './model.js';
import { type Context, type TabContent } from './section-common.js';

export function cacheTab(section: CacheSection, ctx: Context): TabContent {
  const { L, at } = ctx;
  const pages = section.pages;
  const pageAt = (i: number) => path(at, 'pages', i);
  const blocks: Block[] = [];
  const values = pages.flatMap((page) => [page.cold.p50, page.warm.p50]);
  const logY = wideRange(values, 30);
  const withMeaning = pages.some((page) => page.coldMeaning);
  blocks.push({
    title: L.chartCache,
    note: logY ? L.logScale : undefined,
    charts: [
      ctx.chart({
        title: L.chartCache,
        type: 'bars',
        unit: 'ms',
        xLabel: L.page,
        yLabel: L.latencyMs,
        categories: pages.map((page) => page.endpoint),
        x: pages.map((_, i) => i),
        logY,
        series: [
          { label: L.cold, values: pages.map((page) => page.cold.p50) },
          { label: L.warm, values: pages.map((page) => page.warm.p50) },
        ],
      }),
    ],
    table: {
      columns: [
        L.page,
        `${L.cold} p50 (ms)`,
        `${L.warm} p50 (ms)`,
        `${L.warm} p95 (ms)`,
        `${L.warm} p99 (ms)`,
        `${L.warm} ${L.samples}`,
        L.speedup,
        L.hitRate,
        L.hits,
        L.misses,
        ...(withMeaning ? [L.coldMeans] : []),
      ],
      rows: pages.map((page, i) => [
        text(`${page.endpoint} — ${page.label}`),
        num(page.cold.p50, 'ms', path(pageAt(i), 'cold', 'p50')),
        num(page.warm.p50, 'ms', path(pageAt(i), 'warm', 'p50')),
        num(page.warm.p95, 'ms', path(pageAt(i), 'warm', 'p95')),
        num(page.warm.p99, 'ms', path(pageAt(i), 'warm', 'p99')),
        num(page.warm.n, 'count', path(pageAt(i), 'warm', 'n')),
        num(page.speedup, 'ratio', path(pageAt(i), 'speedup')),
        maybeNum(page.serverHitRate, 'percent', path(pageAt(i), 'serverHitRate')),
        maybeNum(page.serverHits, 'count', path(pageAt(i), 'serverHits')),
        maybeNum(page.serverMisses, 'count', path(pageAt(i), 'serverMisses')),
        ...(withMeaning ? [{ ...text(page.coldMeaning ?? ''), wrap: true }] : []),
      ]),
    },
  });

  const ai = pages.flatMap((page, i) =>
    page.ttftCold && page.ttftWarm
      ? [{ name: page.endpoint, cold: page.ttftCold, warm: page.ttftWarm, at: pageAt(i) }]
      : [],
  );
  if (ai.length)
    blocks.push({
      title: L.chartCacheTtft,
      charts: [
        ctx.chart({
          title: L.chartCacheTtft,
          type: 'bars',
          unit: 'ms',
          xLabel: L.page,
          yLabel: L.timeMs,
          categories: ai.map((row) => row.name),
          x: ai.map((_, i) => i),
          series: [
            { label: L.cold, values: ai.map((row) => row.cold.p50) },
            { label: L.warm, values: ai.map((row) => row.warm.p50) },
          ],
        }),
      ],
      table: {
        columns: [
          L.page,
          `${L.cold} p50 (ms)`,
          `${L.warm} p50 (ms)`,
          `${L.warm} p95 (ms)`,
          `${L.warm} ${L.samples}`,
        ],
        rows: ai.map((row) => [
          text(row.name),
          num(row.cold.p50, 'ms', path(row.at, 'ttftCold', 'p50')),
          num(row.warm.p50, 'ms', path(row.at, 'ttftWarm', 'p50')),
          num(row.warm.p95, 'ms', path(row.at, 'ttftWarm', 'p95')),
          num(row.warm.n, 'count', path(row.at, 'ttftWarm', 'n')),
        ]),
      },
    });

  const cards: Card[] = [];
  const best = pages.reduce<CacheSection['pages'][number] | undefined>(
    (top, page) => (!top || page.speedup > top.speedup ? page : top),
    undefined,
  );
  if (best)
    cards.push({ label: L.bestSpeedup, value: formatNumber(best.speedup, 'ratio'), detail: best.endpoint });
  for (const page of pages)
    if (page.serverHitRate !== null)
      cards.push({
        label: `${L.hitRate}`,
        value: formatNumber(page.serverHitRate, 'percent'),
        detail: page.endpoint,
      });
  return {
    cards: cards.slice(0, 4),
    settings: [[L.warmRequests, formatNumber(section.settings.warmRequests, 'count')]],
    notes: [...(section.metricsNote ? [section.metricsNote] : []), ...(section.notes ?? [])],
    blocks,
  };
}
