import { assetUrl } from './assets.js';
import { html } from './html.js';
import type { Page } from './layout.js';

// The charts of /admin/metrics. Each figure names its chart (data-chart); the page script
// (public/admin-metrics.js) draws the series it knows for that name with uPlot, served from
// the app itself like every other asset.
const CHARTS: { id: string; title: string; unit: string }[] = [
  { id: 'requests', title: 'Requests', unit: 'per second' },
  { id: 'latency', title: 'Latency p50 / p90 / p95', unit: 'ms' },
  { id: 'errors', title: 'Error rate (5xx)', unit: '% of requests' },
  { id: 'cache', title: 'Cache hit rate by layer', unit: '% of reads' },
  { id: 'users', title: 'Active users', unit: 'signed in, last 5 minutes' },
  { id: 'ttft', title: 'AI time to first token p50 / p95', unit: 's' },
  { id: 'tokens', title: 'AI tokens per second', unit: 'mean per generation' },
  { id: 'queue', title: 'Queue depth', unit: 'jobs and model calls' },
];

export function metricsPage({ everySeconds }: { everySeconds: number }): Page {
  return {
    meta: {
      title: 'Live metrics',
      noindex: true,
      head: html`<link rel="stylesheet" href="${assetUrl('uPlot.min.css')}" />
        <link rel="stylesheet" href="${assetUrl('admin-metrics.css')}" />`,
      scripts: [
        assetUrl('uPlot.iife.min.js'),
        assetUrl('admin-metrics-math.js'),
        assetUrl('admin-metrics.js'),
      ],
    },
    body: () => html`
      <p class="breadcrumbs"><a href="/admin">Admin</a> / Metrics</p>
      <h1>Live metrics</h1>
      <p class="muted" id="metrics-status" data-source="/admin/metrics.json" data-every-ms="${everySeconds * 1000}">
        Every ${everySeconds} s, from this site's own counters (this page's readings count as requests too);
        the first points appear after two readings.
        Prometheus can scrape the same series at <code>/metrics</code>.
      </p>
      <noscript><p class="flash flash-error">The charts need JavaScript.</p></noscript>
      <div class="metric-grid">
        ${CHARTS.map(
          (chart) => html`<figure class="metric-chart card" data-chart="${chart.id}">
            <figcaption><strong>${chart.title}</strong> <span class="muted small">${chart.unit}</span>
              <output class="metric-now" aria-live="off">–</output></figcaption>
            <div class="metric-plot"></div>
          </figure>`,
        )}
      </div>`,
  };
}
