// Concurrency: one line per endpoint across the levels.
import type { ConcurrencySection } from '../results.js';
import { formatNumber } from './format.js';
import { type Block, type Card, type Cell, num, path, text, wideRange } from './model.js';
import {
  type Context,
  endpointNames,
  errorsText,
  LATENCY_COLUMNS,
  latencyCell,
  latencyName,
  measured,
  type TabContent,
} from './section-common.js';

export function concurrencyTab(section: ConcurrencySection, ctx: Context): TabContent {
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
