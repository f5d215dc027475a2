// One tab per results section: its headline cards, settings, charts and the tables under them.
import type {
  CacheSection,
  ConcurrencySection,
  EndpointResult,
  ErrorCounts,
  Latency,
  LoadSection,
  RatioSection,
  Section,
} from '../results.js';
import { formatNumber } from './format.js';
import type { Labels } from './i18n.js';
import {
  type Block,
  type Card,
  type Cell,
  type Chart,
  maybeNum,
  num,
  path,
  type Tab,
  text,
  wideRange,
} from './model.js';

/** Builds charts with ids unique in the page. */
class Context {
  private charts = 0;
  constructor(
    readonly L: Labels,
    readonly tabId: string,
    /** 'sections.3': where this section is in its file. */
    readonly at: string,
  ) {}

  chart(spec: Omit<Chart, 'id'>): Chart {
    return { id: `${this.tabId}-chart${this.charts++}`, ...spec };
  }
}

export function sectionTab(section: Section, run: number, index: number, L: Labels, runLabel: string): Tab {
  const id = `run${run}-section${index}`;
  const ctx = new Context(L, id, path('sections', index));
  const name = section.kind === 'ratio' ? `${L.ratio}: ${section.bench}` : L[section.kind];
  const tab: Tab = {
    id,
    label: runLabel ? `${runLabel} · ${name}` : name,
    run,
    cards: [],
    settings: [],
    notes: [],
    blocks: [],
  };
  const built =
    section.kind === 'load'
      ? loadTab(section, ctx)
      : section.kind === 'cache'
        ? cacheTab(section, ctx)
        : section.kind === 'concurrency'
          ? concurrencyTab(section, ctx)
          : ratioTab(section, ctx);
  Object.assign(tab, built);
  if (section.kind !== 'ratio' && section.interrupted) tab.warning = L.interrupted;
  return tab;
}

type TabContent = Pick<Tab, 'cards' | 'settings' | 'notes' | 'blocks'>;

const LATENCY_COLUMNS = ['n', 'mean', 'min', 'p50', 'p90', 'p95', 'p99', 'max'] as const;

// With no samples a Latency is all zeros (n 0): JSON has no NaN. A chart or table showing
// "0 ms" would claim the fastest answer yet, so those figures are left out and shown as "—".
function measured(latency: Latency | undefined, key: Exclude<keyof Latency, 'n'>): number | null {
  return latency && latency.n > 0 ? latency[key] : null;
}

function latencyCell(latency: Latency, key: keyof Latency, at: string): Cell {
  if (key === 'n') return num(latency.n, 'count', at);
  return latency.n > 0 ? num(latency[key], 'ms', at) : text('—');
}

/** 'mean', 'min' and 'max' in the report's language; percentiles are pNN in any. */
function latencyName(L: Labels, key: (typeof LATENCY_COLUMNS)[number]): string {
  return key === 'mean' ? L.mean : key === 'min' ? L.min : key === 'max' ? L.max : key;
}

function errorsText(errors: ErrorCounts): string {
  const kinds = Object.entries(errors).filter(([, count]) => count > 0);
  return kinds.map(([kind, count]) => `${kind}: ${formatNumber(count, 'count')}`).join(', ');
}

function sumErrors(errors: ErrorCounts): number {
  return Object.values(errors).reduce((sum, count) => sum + count, 0);
}

/** Endpoint names in the order they first appear. */
function endpointNames(lists: readonly EndpointResult[][]): string[] {
  const names = new Set<string>();
  for (const list of lists) for (const endpoint of list) names.add(endpoint.endpoint);
  return [...names];
}

// ---------------------------------------------------------------------------------------------
// Concurrency: one line per endpoint across the levels.

function concurrencyTab(section: ConcurrencySection, ctx: Context): TabContent {
  const { L, at } = ctx;
  const levels = section.levels;
  const x = levels.map((level) => level.level);
  const names = endpointNames(levels.map((level) => level.endpoints));
  const logX = wideRange(x, 10);
  const find = (li: number, name: string) => {
    const j = levels[li]!.endpoints.findIndex((e) => e.endpoint === name);
    return j < 0
      ? undefined
      : { endpoint: levels[li]!.endpoints[j]!, at: path(at, 'levels', li, 'endpoints', j) };
  };
  const levelCell = (li: number): Cell => {
    const level = levels[li]!;
    return num(
      level.level,
      'count',
      path(at, 'levels', li, 'level'),
      level.stoppedEarly ? L.stoppedEarly : undefined,
      level.stoppedEarly,
    );
  };
  // A table of one figure per endpoint and level, under a chart of the same figure.
  const perEndpoint = (
    title: string,
    unit: 'rate' | 'percent',
    field: 'throughput' | 'errorRate',
    yLabel: string,
  ): Block => ({
    title,
    charts: [
      ctx.chart({
        title,
        type: 'line',
        unit,
        xLabel: L.level,
        yLabel,
        x,
        logX,
        series: names.map((name) => ({
          label: name,
          values: levels.map((_, li) => find(li, name)?.endpoint[field] ?? null),
        })),
      }),
    ],
    table: {
      columns: [L.level, ...names],
      rows: levels.map((_, li) => [
        levelCell(li),
        ...names.map((name) => {
          const found = find(li, name);
          return found ? num(found.endpoint[field], unit, path(found.at, field)) : text('—');
        }),
      ]),
    },
  });

  const blocks: Block[] = [perEndpoint(L.chartConcThroughput, 'rate', 'throughput', L.reqPerS)];
  // Latency: a chart per endpoint side by side, and one table of every figure under them.
  const label = (name: string) =>
    levels.flatMap((level) => level.endpoints).find((e) => e.endpoint === name)?.label;
  blocks.push({
    title: L.chartConcLatency,
    charts: names.map((name) =>
      ctx.chart({
        title: `${name} (${label(name) ?? name})`,
        type: 'line',
        unit: 'ms',
        xLabel: L.level,
        yLabel: L.latencyMs,
        x,
        logX,
        series: (['mean', 'p50', 'p95', 'p99'] as const).map((key) => ({
          label: key === 'mean' ? L.mean : key,
          values: levels.map((_, li) => measured(find(li, name)?.endpoint.latency, key)),
        })),
      }),
    ),
    table: {
      columns: [
        L.endpoint,
        L.level,
        L.samples,
        ...LATENCY_COLUMNS.slice(1).map((key) => `${latencyName(L, key)} (ms)`),
        L.reqPerS,
        L.errorRate,
        L.errorsByKind,
      ],
      rows: names.flatMap((name) =>
        levels.flatMap((_, li) => {
          const found = find(li, name);
          if (!found) return [];
          const { endpoint } = found;
          return [
            [
              text(name),
              levelCell(li),
              ...LATENCY_COLUMNS.map((key) =>
                latencyCell(endpoint.latency, key, path(found.at, 'latency', key)),
              ),
              num(endpoint.throughput, 'rate', path(found.at, 'throughput')),
              num(
                endpoint.errorRate,
                'percent',
                path(found.at, 'errorRate'),
                undefined,
                endpoint.errorRate > 0,
              ),
              text(errorsText(endpoint.errors)),
            ],
          ];
        }),
      ),
    },
  });
  blocks.push(perEndpoint(L.chartConcErrors, 'percent', 'errorRate', L.errorRate));

  // Headlines: the best total throughput, and how far the server went before errors.
  let peak: { value: number; level: number } | undefined;
  let lastClean: number | undefined;
  for (const level of levels) {
    const total = level.endpoints.reduce((sum, e) => sum + e.throughput, 0);
    if (!peak || total > peak.value) peak = { value: total, level: level.level };
    const requests = level.endpoints.reduce((sum, e) => sum + e.requests, 0);
    const errors = level.endpoints.reduce((sum, e) => sum + e.errorRate * e.requests, 0);
    if (!level.stoppedEarly && (requests === 0 || errors / requests <= section.settings.errorThreshold))
      lastClean = level.level;
  }
  const cards: Card[] = [];
  if (peak)
    cards.push({
      label: L.peakThroughput,
      value: `${formatNumber(peak.value, 'rate')} ${L.reqPerS}`,
      detail: `${L.atLevel} ${peak.level}`,
    });
  cards.push({ label: L.lastClean, value: lastClean === undefined ? L.none : String(lastClean) });
  const { settings } = section;
  return {
    cards,
    settings: [
      [L.levels, settings.levels.join(', ')],
      [L.perLevel, `${formatNumber(settings.durationPerLevelS, 's')} s`],
      [L.errorThreshold, formatNumber(settings.errorThreshold, 'percent')],
    ],
    notes: section.notes ?? [],
    blocks,
  };
}

// ---------------------------------------------------------------------------------------------
// Load: a weighted mix of users; per-endpoint latency, the run's timeline, AI timings.

function loadTab(section: LoadSection, ctx: Context): TabContent {
  const { L, at } = ctx;
  const endpoints = section.endpoints;
  const epAt = (i: number) => path(at, 'endpoints', i);
  const names = endpoints.map((e) => e.endpoint);
  const blocks: Block[] = [];
  const percentiles = ['p50', 'p90', 'p95', 'p99'] as const;

  blocks.push({
    title: L.chartLoadLatency,
    charts: [
      ctx.chart({
        title: L.chartLoadLatency,
        type: 'bars',
        unit: 'ms',
        xLabel: L.endpoint,
        yLabel: L.latencyMs,
        categories: names,
        x: names.map((_, i) => i),
        logY: wideRange(
          endpoints.flatMap((e) => [measured(e.latency, 'p50'), measured(e.latency, 'p99')]),
          100,
        ),
        series: percentiles.map((key) => ({
          label: key,
          values: endpoints.map((e) => measured(e.latency, key)),
        })),
      }),
    ],
    table: {
      columns: [
        L.endpoint,
        L.requests,
        L.reqPerS,
        ...LATENCY_COLUMNS.slice(1).map((key) => `${latencyName(L, key)} (ms)`),
        L.errorRate,
        L.errorsByKind,
      ],
      rows: endpoints.map((e, i) => [
        text(`${e.endpoint} — ${e.label}`),
        num(e.requests, 'count', path(epAt(i), 'requests')),
        num(e.throughput, 'rate', path(epAt(i), 'throughput')),
        ...LATENCY_COLUMNS.slice(1).map((key) => latencyCell(e.latency, key, path(epAt(i), 'latency', key))),
        num(e.errorRate, 'percent', path(epAt(i), 'errorRate'), undefined, e.errorRate > 0),
        text(errorsText(e.errors)),
      ]),
    },
  });

  if (section.timeline.length) {
    const t = section.timeline.map((point) => point.t);
    blocks.push({
      title: L.chartLoadTimeline,
      charts: [
        ctx.chart({
          title: L.chartLoadTimeline,
          type: 'line',
          unit: 'rate',
          xLabel: L.time,
          yLabel: L.reqPerS,
          x: t,
          series: [
            { label: L.requests, values: section.timeline.map((point) => point.requests) },
            { label: L.errors, values: section.timeline.map((point) => point.errors) },
          ],
        }),
        ctx.chart({
          title: L.chartLoadTimelineLatency,
          type: 'line',
          unit: 'ms',
          xLabel: L.time,
          yLabel: L.latencyMs,
          x: t,
          series: [
            { label: 'p50', values: section.timeline.map((point) => (point.requests ? point.p50 : null)) },
            { label: 'p99', values: section.timeline.map((point) => (point.requests ? point.p99 : null)) },
          ],
        }),
      ],
      table: {
        columns: [L.time, L.requests, L.errors, 'p50 (ms)', 'p99 (ms)'],
        rows: section.timeline.map((point, i) => [
          num(point.t, 's', path(at, 'timeline', i, 't')),
          num(point.requests, 'count', path(at, 'timeline', i, 'requests')),
          num(point.errors, 'count', path(at, 'timeline', i, 'errors'), undefined, point.errors > 0),
          point.requests ? num(point.p50, 'ms', path(at, 'timeline', i, 'p50')) : text('—'),
          point.requests ? num(point.p99, 'ms', path(at, 'timeline', i, 'p99')) : text('—'),
        ]),
      },
    });
  }

  const ai = endpoints.flatMap((e, i) => (e.ttft && e.total ? [{ e, ttft: e.ttft, total: e.total, i }] : []));
  if (ai.length)
    blocks.push(
      aiBlock(
        ctx,
        ai.map(({ e, ttft, total, i }) => ({ name: e.endpoint, ttft, total, at: epAt(i) })),
      ),
    );

  const requests = endpoints.reduce((sum, e) => sum + e.requests, 0);
  const errors = endpoints.reduce((sum, e) => sum + sumErrors(e.errors), 0);
  const worst = endpoints.reduce<EndpointResult | undefined>(
    (slowest, e) => (!slowest || e.latency.p99 > slowest.latency.p99 ? e : slowest),
    undefined,
  );
  const cards: Card[] = [
    {
      label: L.totalRequests,
      value: formatNumber(requests, 'count'),
      detail: `${formatNumber(section.elapsedS, 's')} s`,
    },
    {
      label: L.totalThroughput,
      value: `${formatNumber(
        endpoints.reduce((sum, e) => sum + e.throughput, 0),
        'rate',
      )} ${L.reqPerS}`,
    },
    { label: L.overallErrors, value: formatNumber(requests ? errors / requests : 0, 'percent') },
  ];
  if (worst)
    cards.push({
      label: L.worstP99,
      value: `${formatNumber(worst.latency.p99, 'ms')} ms`,
      detail: worst.endpoint,
    });
  const { settings } = section;
  return {
    cards,
    settings: [
      [L.users, formatNumber(settings.users, 'count')],
      [L.duration, `${formatNumber(settings.durationS, 's')} s`],
      [L.think, settings.thinkMs[1] === 0 ? '0' : `${settings.thinkMs[0]}–${settings.thinkMs[1]} ms`],
      [
        L.weights,
        Object.entries(settings.weights)
          .map(([name, weight]) => `${name} ${weight}`)
          .join(', '),
      ],
      ...(settings.scenarioFile ? [[L.scenario, settings.scenarioFile] as [string, string]] : []),
    ],
    notes: section.notes ?? [],
    blocks,
  };
}

/** AI endpoints: time to the first token and to the whole answer, side by side. */
function aiBlock(
  ctx: Context,
  rows: { name: string; ttft: EndpointResult['latency']; total: EndpointResult['latency']; at: string }[],
): Block {
  const { L } = ctx;
  const keys = ['p50', 'p95', 'p99'] as const;
  return {
    title: L.chartAi,
    charts: [
      ctx.chart({
        title: L.chartAi,
        type: 'bars',
        unit: 'ms',
        xLabel: L.endpoint,
        yLabel: L.timeMs,
        categories: rows.map((row) => row.name),
        x: rows.map((_, i) => i),
        series: [
          { label: `${L.ttft} p50`, values: rows.map((row) => row.ttft.p50) },
          { label: `${L.ttft} p95`, values: rows.map((row) => row.ttft.p95) },
          { label: `${L.total} p50`, values: rows.map((row) => row.total.p50) },
          { label: `${L.total} p95`, values: rows.map((row) => row.total.p95) },
        ],
      }),
    ],
    table: {
      columns: [
        L.endpoint,
        L.samples,
        ...keys.map((key) => `${L.ttft} ${key} (ms)`),
        ...keys.map((key) => `${L.total} ${key} (ms)`),
      ],
      rows: rows.map((row) => [
        text(row.name),
        num(row.ttft.n, 'count', path(row.at, 'ttft', 'n')),
        ...keys.map((key) => num(row.ttft[key], 'ms', path(row.at, 'ttft', key))),
        ...keys.map((key) => num(row.total[key], 'ms', path(row.at, 'total', key))),
      ]),
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Cache: the first (cold) request against warm ones, per page kind.

function cacheTab(section: CacheSection, ctx: Context): TabContent {
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

// ---------------------------------------------------------------------------------------------
// Ratio: targets against a baseline measured in the same run (`bench pages`, `bench ai`).

function ratioTab(section: RatioSection, ctx: Context): TabContent {
  const { L, at } = ctx;
  const rowAt = (i: number) => path(at, 'rows', i);
  const name = (row: RatioSection['rows'][number]) =>
    row.group ? `${row.group} · ${row.target}` : row.target;
  // A row that timed latency only (the AI bench's time to first token) has throughput 0, and one
  // that counted completions only has an empty latency (n 0): neither is a measured zero.
  const withThroughput = section.rows.filter((row) => !(row.throughput === 0 && row.latency.n > 0));
  const withLatency = section.rows.flatMap((row, i) => (row.latency.n > 0 ? [{ row, i }] : []));
  const compared = section.rows.flatMap((row, i) =>
    row.ratio === null ? [] : [{ row, ratio: row.ratio, i }],
  );
  const blocks: Block[] = [];
  blocks.push({
    title: L.chartRatio,
    charts: compared.length
      ? [
          ctx.chart({
            title: L.chartRatio,
            type: 'bars',
            unit: 'ratio',
            xLabel: L.targetName,
            yLabel: L.ratioToBaseline,
            categories: compared.map(({ row }) => name(row)),
            x: compared.map((_, i) => i),
            series: [{ label: L.ratioToBaseline, values: compared.map(({ ratio }) => ratio) }],
            // Bars that missed their goal in red, that met it in green.
            marks: compared.map(({ row }) => (row.pass === undefined ? null : row.pass ? 'good' : 'bad')),
          }),
        ]
      : [],
    table: {
      columns: [
        L.group,
        L.targetName,
        L.reqPerS,
        'p50 (ms)',
        'p99 (ms)',
        L.ratioToBaseline,
        L.goal,
        L.pass,
        L.errors,
      ],
      rows: section.rows.map((row, i) => [
        text(row.group),
        text(row.target, row.ratio === null ? L.baseline : undefined),
        withThroughput.includes(row) ? num(row.throughput, 'rate', path(rowAt(i), 'throughput')) : text('—'),
        latencyCell(row.latency, 'p50', path(rowAt(i), 'latency', 'p50')),
        latencyCell(row.latency, 'p99', path(rowAt(i), 'latency', 'p99')),
        maybeNum(row.ratio, 'ratio', path(rowAt(i), 'ratio')),
        text(row.goal ?? ''),
        row.pass === undefined ? text('') : text(row.pass ? L.yes : L.no, undefined, !row.pass),
        num(row.errors, 'count', path(rowAt(i), 'errors'), undefined, row.errors > 0),
      ]),
    },
  });
  const charts: Chart[] = [];
  if (withThroughput.length)
    charts.push(
      ctx.chart({
        title: L.chartRatioThroughput,
        type: 'bars',
        unit: 'rate',
        xLabel: L.targetName,
        yLabel: L.reqPerS,
        categories: withThroughput.map(name),
        x: withThroughput.map((_, i) => i),
        series: [{ label: L.reqPerS, values: withThroughput.map((row) => row.throughput) }],
      }),
    );
  if (withLatency.length)
    charts.push(
      ctx.chart({
        title: `${L.latencyMs}: p50 / p99`,
        type: 'bars',
        unit: 'ms',
        xLabel: L.targetName,
        yLabel: L.latencyMs,
        categories: withLatency.map(({ row }) => name(row)),
        x: withLatency.map((_, i) => i),
        series: [
          { label: 'p50', values: withLatency.map(({ row }) => row.latency.p50) },
          { label: 'p99', values: withLatency.map(({ row }) => row.latency.p99) },
        ],
      }),
    );
  if (withLatency.length)
    blocks.push({
      title: `${L.chartRatioThroughput} · ${L.latencyMs}`,
      charts,
      table: {
        columns: [
          L.targetName,
          L.samples,
          ...LATENCY_COLUMNS.slice(1).map((key) => `${latencyName(L, key)} (ms)`),
        ],
        rows: withLatency.map(({ row, i }) => [
          text(name(row)),
          num(row.latency.n, 'count', path(rowAt(i), 'latency', 'n')),
          ...LATENCY_COLUMNS.slice(1).map((key) =>
            num(row.latency[key], 'ms', path(rowAt(i), 'latency', key)),
          ),
        ]),
      },
    });
  const judged = section.rows.filter((row) => row.pass !== undefined);
  const cards: Card[] = [];
  if (judged.length)
    cards.push({
      label: L.goalsMet,
      value: `${judged.filter((row) => row.pass).length} / ${judged.length}`,
    });
  const lowest = compared.reduce<(typeof compared)[number] | undefined>(
    (low, item) => (!low || item.ratio < low.ratio ? item : low),
    undefined,
  );
  if (lowest)
    cards.push({
      label: L.lowestRatio,
      value: formatNumber(lowest.ratio, 'ratio'),
      detail: name(lowest.row),
    });
  return {
    cards,
    settings: [[L.generator, section.generator]],
    notes: section.notes,
    blocks,
  };
}
