// Ratio: targets against a baseline measured in the same run (`bench pages`, `bench ai`).
import type { RatioSection } from '../results.js';
import { formatNumber } from './format.js';
import { type Block, type Card, type Chart, maybeNum, num, path, text } from './model.js';
import {
  type Context,
  LATENCY_COLUMNS,
  latencyCell,
  latencyName,
  type TabContent,
} from './section-common.js';

export function ratioTab(section: RatioSection, ctx: Context): TabContent {
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
