// The benchmark report: one self-contained HTML file (uPlot, styles, script and data inlined, no
// network needed to open it) with a summary of each run and one tab per test.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename } from 'node:path';
import { html, raw, type SafeHtml } from '../../views/html.js';
import type { BenchResults } from '../results.js';
import { CLIENT_SCRIPT } from './client.js';
import { formatBytes, formatTime } from './format.js';
import { type Lang, LABELS, type Labels, langFromEnv } from './i18n.js';
import type { Block, Cell, Chart, Tab } from './model.js';
import { sectionTab } from './sections.js';
import { STYLES } from './styles.js';

export { langFromEnv, type Lang } from './i18n.js';

export interface ReportOptions {
  /** Default: the user's, from LC_ALL, LC_MESSAGES or LANG (so a run's own report.html speaks it too). */
  lang?: Lang;
  /** The results files' names, shown on the tabs when a report holds several runs. */
  sources?: string[];
  /** When the report was made (the footer); now by default. */
  now?: Date;
}

let uplot: { js: string; css: string } | undefined;

/** uPlot's script and stylesheet from node_modules, read once. */
function uplotAssets(): { js: string; css: string } {
  if (!uplot) {
    const require = createRequire(import.meta.url);
    const js = readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8');
    const css = readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8');
    uplot = { js, css };
  }
  return uplot;
}

/**
 * JSON for a <script type="application/json">: `<`, `>` and `&` become \u escapes, so no string
 * in the results (an endpoint named `</script><script>…`) can close the element; U+2028/9 too,
 * for any reader that evaluates it as JavaScript. JSON.parse gives back the same strings.
 */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** Inline script or style text: a literal `</script` or `</style` inside would end the element. */
function inline(code: string, element: 'script' | 'style'): SafeHtml {
  return raw(code.replace(new RegExp(`</(${element})`, 'gi'), '<\\/$1'));
}

export function renderReport(results: BenchResults[], options: ReportOptions = {}): string {
  const lang = options.lang ?? langFromEnv();
  const L = LABELS[lang];
  const several = results.length > 1;
  const runName = (i: number) => (options.sources?.[i] ? basename(options.sources[i]!) : `${L.run} ${i + 1}`);
  const tabs = results.flatMap((run, r) =>
    run.sections.map((section, s) => sectionTab(section, r, s, L, several ? runName(r) : '')),
  );
  const charts: Record<string, Chart> = {};
  for (const tab of tabs)
    for (const block of tab.blocks) for (const chart of block.charts) charts[chart.id] = chart;
  const { js, css } = uplotAssets();
  const now = options.now ?? new Date();

  const page = html`<!doctype html>
<html lang="${lang === 'zh' ? 'zh-CN' : 'en'}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:">
<title>${L.title}</title>
<style>${inline(css, 'style')}</style>
<style>${inline(STYLES, 'style')}</style>
</head>
<body>
<header class="top"><div class="wrap">
<h1>${L.title}</h1>
<p>${results.map((run) => run.url).join(' · ')}</p>
</div></header>
<div class="wrap">
<section class="runs" aria-label="${L.run}">
${results.map((run, r) => runSummary(run, r, runName(r), tabs, L))}
</section>
${tabs.length ? tabList(tabs, L) : html`<p>${L.noData}</p>`}
${tabs.map((tab, i) => tabPanel(tab, i === 0, L))}
<footer>${L.generated} ${formatTime(now.toISOString())} · uPlot</footer>
</div>
<script type="application/json" id="report-data">${raw(scriptJson({ lang, charts }))}</script>
<script type="application/json" id="report-results">${raw(scriptJson(results))}</script>
<script>${inline(js, 'script')}</script>
<script>${inline(CLIENT_SCRIPT, 'script')}</script>
</body>
</html>
`;
  return page.toString();
}

function runSummary(run: BenchResults, r: number, name: string, tabs: Tab[], L: Labels): SafeHtml {
  const { machine } = run;
  const facts: [string, SafeHtml | string][] = [
    [L.target, run.url],
    [L.targetVersion, run.targetVersion ?? '—'],
    [L.tool, run.inkstoneVersion],
    [L.command, html`<code>${run.command}</code>`],
    [
      L.machine,
      `${machine.hostname} · ${machine.cpus} × ${machine.cpuModel} · ${formatBytes(machine.memoryBytes)} · ${machine.platform}/${machine.arch} · Node ${machine.node}`,
    ],
    [L.loadAvg, `${machine.loadAverage.start[0]} → ${machine.loadAverage.end[0]}`],
  ];
  return html`<article class="run" data-run="${r}">
<h2><span>${name}</span><span class="when">${L.started} ${formatTime(run.startedAt)}</span>
<button type="button" class="download" data-download="${r}" data-filename="${`results-${r + 1}.json`}">${L.downloadJson}</button></h2>
<dl class="facts">${facts.map(([term, value]) => html`<div><dt>${term}</dt><dd>${value}</dd></div>`)}</dl>
<div class="headlines">
${tabs
  .filter((tab) => tab.run === r)
  .map(
    (
      tab,
    ) => html`<div class="headline"><h3><a href="${`#${tab.id}`}" data-open-tab="${tab.id}">${tab.label}</a></h3>
<div class="cards">${tab.cards.map(
      (card) =>
        html`<div class="card"><div class="label">${card.label}</div><div class="value">${card.value}</div>${
          card.detail ? html`<div class="detail">${card.detail}</div>` : ''
        }</div>`,
    )}</div></div>`,
  )}
</div>
</article>`;
}

function tabList(tabs: Tab[], L: Labels): SafeHtml {
  return html`<nav role="tablist" aria-label="${L.sections}">${tabs.map(
    (tab, i) =>
      html`<button type="button" role="tab" id="${`tab-${tab.id}`}" data-tab="${tab.id}" aria-controls="${`panel-${tab.id}`}" aria-selected="${i === 0 ? 'true' : 'false'}" tabindex="${i === 0 ? 0 : -1}">${tab.label}</button>`,
  )}</nav>`;
}

function tabPanel(tab: Tab, shown: boolean, L: Labels): SafeHtml {
  return html`<section role="tabpanel" id="${`panel-${tab.id}`}" aria-labelledby="${`tab-${tab.id}`}" data-run="${tab.run}" tabindex="0"${shown ? '' : raw(' hidden')}>
${tab.warning ? html`<div class="warning" role="note">${tab.warning}</div>` : ''}
<div class="cards">${tab.cards.map(
    (card) =>
      html`<div class="card"><div class="label">${card.label}</div><div class="value">${card.value}</div>${
        card.detail ? html`<div class="detail">${card.detail}</div>` : ''
      }</div>`,
  )}</div>
<div class="settings"><b>${L.settings}:</b> ${tab.settings.map(([key, value]) => html`<span>${key}: <b>${value}</b></span>`)}</div>
${tab.notes.length ? html`<ul class="notes">${tab.notes.map((note) => html`<li>${note}</li>`)}</ul>` : ''}
${tab.blocks.length ? tab.blocks.map((block) => blockHtml(block, tab.run)) : html`<p>${L.noData}</p>`}
</section>`;
}

function blockHtml(block: Block, run: number): SafeHtml {
  return html`<section class="block">
<h3>${block.title}${block.note ? html`<span class="note">${block.note}</span>` : ''}</h3>
${
  block.charts.length
    ? html`<div class="charts">${block.charts.map(
        (chart) =>
          html`<figure class="chart-box" style="margin:0">${block.charts.length > 1 ? html`<h4>${chart.title}</h4>` : ''}<div class="chart" data-chart="${chart.id}" role="img" aria-label="${chart.title}"></div></figure>`,
      )}</div>`
    : ''
}
<div class="table-box"><table data-run="${run}">
<thead><tr>${block.table.columns.map((column, i) => html`<th scope="col" class="${isNumeric(block, i) ? 'num' : ''}">${column}</th>`)}</tr></thead>
<tbody>${block.table.rows.map((row) => html`<tr>${row.map((cell, i) => cellHtml(cell, isNumeric(block, i)))}</tr>`)}</tbody>
</table></div>
</section>`;
}

const isNumeric = (block: Block, column: number) =>
  block.table.rows.some((row) => row[column]?.path !== undefined);

function cellHtml(cell: Cell, numeric: boolean): SafeHtml {
  const classes = [numeric ? 'num' : '', cell.bad ? 'bad' : '', cell.wrap ? 'wrap' : '']
    .filter(Boolean)
    .join(' ');
  const badge = cell.badge ? html` <span class="badge">${cell.badge}</span>` : '';
  if (cell.path === undefined)
    return html`<td class="${classes}"><span class="v">${cell.text}</span>${badge}</td>`;
  return html`<td class="${classes}" data-path="${cell.path}" data-value="${String(cell.value)}" data-unit="${cell.unit}"><span class="v">${cell.text}</span>${badge}</td>`;
}
