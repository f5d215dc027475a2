/* global uPlot */
// /admin/metrics: polls /admin/metrics.json and draws each chart with uPlot (bundled, no CDN).
// The page's figures name their charts (data-chart); the points come from
// InkstoneMetricsMath.point (admin-metrics-math.js), two snapshots at a time.
(() => {
  const status = document.getElementById('metrics-status');
  if (!status || typeof uPlot === 'undefined' || !globalThis.InkstoneMetricsMath) return;
  const { point } = globalThis.InkstoneMetricsMath;
  const source = status.dataset.source;
  const everyMs = Number(status.dataset.everyMs) || 5000;
  // Ten minutes at the default 5 s.
  const KEEP = 120;

  const css = getComputedStyle(document.documentElement);
  const color = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
  const ink = color('--ink', '#1c2230');
  const line = color('--line', '#e6e2d9');
  const palette = [color('--accent', '#b5472f'), '#3b6fb6', color('--ok', '#2e6b46'), '#8a5cb8', '#c08a1e'];

  const fixed = (digits) => (value) => (value === null || value === undefined ? '–' : value.toFixed(digits));
  // Each chart: its series (a field of a point, a label) and how its current value reads.
  const CHARTS = {
    requests: { series: [['requestRate', 'req/s']], show: fixed(1) },
    latency: {
      series: [
        ['p50', 'p50'],
        ['p90', 'p90'],
        ['p95', 'p95'],
      ],
      show: fixed(1),
    },
    errors: { series: [['errorRate', '5xx %']], show: fixed(2) },
    cache: {
      series: [
        ['cacheL1', 'memory (L1)'],
        ['cacheL2', 'Redis (L2)'],
        ['cacheAll', 'all, with the front door'],
      ],
      show: fixed(1),
    },
    users: { series: [['activeUsers', 'users']], show: fixed(0) },
    ttft: {
      series: [
        ['ttftP50', 'p50'],
        ['ttftP95', 'p95'],
      ],
      show: fixed(2),
    },
    tokens: { series: [['tokensPerSecond', 'tokens/s']], show: fixed(1) },
    queue: {
      series: [
        ['aiQueued', 'model calls waiting'],
        ['jobsWaiting', 'jobs waiting'],
        ['jobsActive', 'jobs active'],
        ['jobsDelayed', 'jobs delayed'],
        ['jobsFailed', 'jobs failed'],
      ],
      show: fixed(0),
    },
  };

  const points = [];
  const charts = [];
  for (const figure of document.querySelectorAll('figure[data-chart]')) {
    const chart = CHARTS[figure.dataset.chart];
    if (!chart) continue;
    const plot = figure.querySelector('.metric-plot');
    const now = figure.querySelector('.metric-now');
    const axis = { stroke: ink, grid: { stroke: line, width: 1 }, ticks: { stroke: line, width: 1 } };
    const options = {
      width: Math.max(plot.clientWidth, 200),
      height: 180,
      legend: { live: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (_u, min, max) => [0, Math.max(max, min + 1, 1)] } },
      axes: [axis, { ...axis, size: 50 }],
      series: [
        {},
        ...chart.series.map(([, label], i) => ({
          label,
          stroke: palette[i % palette.length],
          width: 2,
          spanGaps: false,
        })),
      ],
    };
    const empty = [[], ...chart.series.map(() => [])];
    charts.push({ chart, now, plot, u: new uPlot(options, empty, plot) });
  }

  const redraw = () => {
    for (const { chart, now, u } of charts) {
      const data = [points.map((p) => p.time), ...chart.series.map(([field]) => points.map((p) => p[field]))];
      u.setData(data);
      const last = points[points.length - 1];
      if (last) now.textContent = chart.series.map(([field]) => chart.show(last[field])).join(' / ');
    }
  };

  new ResizeObserver(() => {
    for (const { plot, u } of charts) u.setSize({ width: Math.max(plot.clientWidth, 200), height: 180 });
  }).observe(document.querySelector('.metric-grid'));

  let previous = null;
  const poll = async () => {
    try {
      const response = await fetch(source, {
        headers: { accept: 'application/json' },
        credentials: 'same-origin',
      });
      if (!response.ok) throw new Error(`${source} answered ${response.status}`);
      const snapshot = await response.json();
      if (previous) {
        const next = point(previous, snapshot);
        if (next) {
          points.push(next);
          if (points.length > KEEP) points.shift();
          redraw();
        }
      }
      previous = snapshot;
      const workers = snapshot.workers === 1 ? '1 process' : `${snapshot.workers} workers`;
      status.textContent = `Updated ${new Date(snapshot.at).toLocaleTimeString()} (${workers}), every ${everyMs / 1000} s.`;
      status.classList.remove('flash-error');
    } catch (error) {
      status.textContent = `Could not read the metrics: ${error.message}. Trying again.`;
      status.classList.add('flash-error');
    } finally {
      setTimeout(poll, everyMs);
    }
  };
  void poll();
})();
