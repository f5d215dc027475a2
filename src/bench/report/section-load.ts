// Load: a weighted mix of users; per-endpoint latency, the run's timeline, AI timings.
import type { EndpointResult, LoadSection } from '../results.js';
import { formatNumber } from './format.js';
import { type Block, type Card, num, path, text, wideRange } from './model.js';
import {
  type Context,
  errorsText,
  LATENCY_COLUMNS,
  latencyCell,
  latencyName,
  measured,
  sumErrors,
  type TabContent,
} from './section-common.js';

export function loadTab(section: LoadSection, ctx: Context): TabContent {
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
