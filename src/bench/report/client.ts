// The report page's own script: tabs, and a uPlot chart for each chart spec in the page's data.
// Plain ES5-style JavaScript in a string, inlined into the HTML (the report is one file opened
// from disk). It is not compiled by tsc, so the browser test runs it: every tab is opened, every
// canvas must be drawn, and any console error fails the test.
//
// Why charts are made when their tab is first shown: uPlot sizes its canvas from the width it is
// given, and a hidden panel has no width, so a chart built there would be 0 px wide (the
// original design's bug: switching tabs showed empty charts). A shown tab also re-measures its
// charts, since the window may have been resized while it was hidden.

export const CLIENT_SCRIPT = String.raw`(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('report-data').textContent);
  var COLORS = ['#3b6fb6', '#e07b39', '#3a9d5d', '#c8454d', '#8a63b8', '#2aa6a6', '#b58b00', '#d45d9b'];
  var MARKS = { good: '#3a9d5d', bad: '#c8454d' };
  var charts = {};

  // A copy of format.ts's formatNumber, so the legend under the cursor reads like the tables.
  function decimals(x) {
    var a = Math.abs(x);
    if (a === 0 || a >= 100) return 0;
    if (a >= 10) return 1;
    if (a >= 1) return 2;
    return 3;
  }
  function grouped(x, digits) {
    return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }
  function fmt(value, unit) {
    if (value === null || value === undefined) return '—';
    switch (unit) {
      case 'count': return grouped(value, 0);
      case 'percent':
        var pct = value * 100;
        return grouped(pct, pct === 0 ? 0 : Math.min(2, Math.max(1, decimals(pct)))) + '%';
      case 'ratio': return grouped(value, 2) + '×';
      case 'rate':
      case 's': return grouped(value, Math.min(1, decimals(value)));
      default: return grouped(value, decimals(value));
    }
  }
  // Axis ticks: shorter than the tables (no trailing zeros), still grouped.
  function tick(value, unit) {
    if (unit === 'percent') return +(value * 100).toPrecision(3) + '%';
    if (unit === 'ratio') return +value.toPrecision(3) + '×';
    return (+value.toPrecision(4)).toLocaleString('en-US');
  }

  var css = getComputedStyle(document.body);
  var FONT_FAMILY = css.fontFamily;
  var INK = css.getPropertyValue('--ink-soft').trim() || '#555';
  var GRID = css.getPropertyValue('--grid').trim() || '#e5e7eb';

  function sizeOf(el) {
    var width = Math.max(240, el.clientWidth);
    return { width: width, height: Math.round(Math.min(340, Math.max(220, width * 0.42))) };
  }

  // The axis is as wide as its longest tick label (uPlot's default is a fixed 50 px).
  function axisSize(self, values, axisIdx, cycleNum) {
    var axis = self.axes[axisIdx];
    if (cycleNum > 1) return axis._size;
    var size = axis.ticks.size + axis.gap;
    var longest = (values || []).reduce(function (a, v) { return String(v).length > a.length ? String(v) : a; }, '');
    if (longest) {
      self.ctx.font = axis.font[0];
      var width = self.ctx.measureText(longest).width / devicePixelRatio;
      size += axis._rotate ? width * Math.abs(Math.sin(axis._rotate * Math.PI / 180)) + 8 : width;
    }
    return Math.ceil(size);
  }

  // Grouped bars: every category sits at x = 0, 1, 2…; series k of n takes its slot in the group.
  function groupedBars(k, n, color, marks) {
    var group = 0.78;
    var slot = group / n;
    var fills = marks && n === 1 ? marks.map(function (mark) { return mark ? MARKS[mark] : color; }) : null;
    return uPlot.paths.bars({
      size: [1, Infinity],
      disp: {
        fill: fills ? { unit: 3, values: function () { return fills; } } : undefined,
        x0: { unit: 1, values: function (u) { return u.data[0].map(function (x) { return x - group / 2 + k * slot; }); } },
        size: { unit: 1, values: function (u) { return u.data[0].map(function () { return slot * 0.9; }); } },
      },
    });
  }

  // Log axes: 1, 2, 5 × each power of ten in range (uPlot's default ticks every 1…9 × 10ⁿ).
  function logSplits(u, axisIdx, min, max) {
    var splits = [];
    for (var p = Math.floor(Math.log10(min)); p <= Math.ceil(Math.log10(max)); p++) {
      [1, 2, 5].forEach(function (m) {
        var v = m * Math.pow(10, p);
        if (v >= min && v <= max) splits.push(+v.toPrecision(6));
      });
    }
    return splits;
  }

  function makeChart(el) {
    var spec = data.charts[el.getAttribute('data-chart')];
    var bars = spec.type === 'bars';
    var font = '12px ' + FONT_FAMILY;
    var labelFont = '600 12px ' + FONT_FAMILY;
    // A log axis cannot show 0: such points are left out rather than drawn at the bottom.
    var series = spec.series.map(function (s) {
      return spec.logY ? s.values.map(function (v) { return v > 0 ? v : null; }) : s.values;
    });
    var categories = spec.categories || [];
    var longest = categories.reduce(function (a, c) { return Math.max(a, c.length); }, 0);
    // At least three categories' width, so a lone bar is not as wide as the chart.
    var pad = Math.max(0.5, (3 - spec.x.length) / 2 + 0.5);
    var rotate = bars && (categories.length > 5 || longest > 14) ? -30 : 0;
    var opts = Object.assign(sizeOf(el), {
      class: 'bench-chart',
      // Room on the right for the last slanted category label.
      padding: [12, rotate ? Math.min(140, 12 + longest * 5.5) : 12, 0, 0],
      cursor: { points: { show: !bars }, drag: { x: !bars, y: false } },
      legend: { live: true },
      scales: {
        x: bars
          ? { time: false, range: [-pad, spec.x.length - 1 + pad] }
          : { time: false, distr: spec.logX ? 3 : 1 },
        // A log axis starts at least a third below the smallest bar, so that bar still shows.
        y: spec.logY
          ? { distr: 3, range: function (u, min, max) { return [Math.pow(10, Math.floor(Math.log10(min / 3))), Math.pow(10, Math.ceil(Math.log10(max)))]; } }
          : { range: function (u, min, max) { return [0, max > 0 ? max * 1.08 : 1]; } },
      },
      axes: [
        {
          label: spec.xLabel, font: font, labelFont: labelFont, stroke: INK,
          grid: { show: !bars, stroke: GRID, width: 1 }, ticks: { show: true, stroke: GRID, width: 1, size: 5 },
          rotate: rotate,
          size: rotate ? axisSize : 36,
          splits: bars || spec.logX ? function () { return spec.x; } : undefined,
          // uPlot shows only 1 × 10ⁿ on a log axis; the levels run (5, 20, 50…) are labelled too.
          filter: spec.logX ? function (u, splits) { return splits; } : undefined,
          values: bars
            ? function (u, splits) { return splits.map(function (i) { return categories[i] === undefined ? '' : categories[i]; }); }
            : function (u, splits) { return splits.map(function (v) { return v === null ? '' : tick(v, 'count'); }); },
        },
        {
          label: spec.yLabel, font: font, labelFont: labelFont, stroke: INK,
          grid: { show: true, stroke: GRID, width: 1 }, ticks: { show: true, stroke: GRID, width: 1, size: 5 },
          size: axisSize,
          splits: spec.logY ? logSplits : undefined,
          values: function (u, splits) { return splits.map(function (v) { return v === null ? '' : tick(v, spec.unit); }); },
        },
      ],
      series: [
        {
          label: spec.xLabel,
          value: function (u, v) { return v === null ? '—' : bars ? (categories[v] || '') : tick(v, 'count'); },
        },
      ].concat(spec.series.map(function (s, k) {
        var color = COLORS[k % COLORS.length];
        return {
          label: s.label,
          stroke: color,
          fill: bars ? color + 'd9' : undefined,
          width: bars ? 0 : 2,
          points: { show: !bars, size: 7, fill: color },
          paths: bars ? groupedBars(k, spec.series.length, color + 'd9', spec.marks) : undefined,
          fillTo: spec.logY ? function (u) { return u.scales.y.min; } : undefined,
          value: function (u, v) { return fmt(v, spec.unit); },
        };
      })),
    });
    charts[spec.id] = new uPlot(opts, [spec.x].concat(series), el);
  }

  function showCharts(panel) {
    var els = panel.querySelectorAll('[data-chart]');
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      var chart = charts[el.getAttribute('data-chart')];
      if (!chart) makeChart(el);
      else {
        var size = sizeOf(el);
        if (size.width !== chart.width || size.height !== chart.height) chart.setSize(size);
      }
    }
  }

  var tabs = Array.prototype.slice.call(document.querySelectorAll('[role="tab"]'));

  function select(tab, focus) {
    tabs.forEach(function (other) {
      var selected = other === tab;
      other.setAttribute('aria-selected', selected ? 'true' : 'false');
      other.tabIndex = selected ? 0 : -1;
      document.getElementById(other.getAttribute('aria-controls')).hidden = !selected;
    });
    if (focus) tab.focus();
    showCharts(document.getElementById(tab.getAttribute('aria-controls')));
    try { history.replaceState(null, '', '#' + tab.getAttribute('data-tab')); } catch (e) { /* file: URLs in some browsers */ }
  }

  tabs.forEach(function (tab, i) {
    tab.addEventListener('click', function () { select(tab, false); });
    // Arrow keys, Home and End move between tabs, as WAI-ARIA's tabs pattern expects.
    tab.addEventListener('keydown', function (event) {
      var next = null;
      if (event.key === 'ArrowRight') next = tabs[(i + 1) % tabs.length];
      else if (event.key === 'ArrowLeft') next = tabs[(i - 1 + tabs.length) % tabs.length];
      else if (event.key === 'Home') next = tabs[0];
      else if (event.key === 'End') next = tabs[tabs.length - 1];
      if (next) { event.preventDefault(); select(next, true); }
    });
  });

  // Headline cards in the summary open their test's tab.
  Array.prototype.forEach.call(document.querySelectorAll('[data-open-tab]'), function (link) {
    link.addEventListener('click', function (event) {
      var tab = document.querySelector('[role="tab"][data-tab="' + link.getAttribute('data-open-tab') + '"]');
      if (!tab) return;
      event.preventDefault();
      select(tab, true);
      tab.scrollIntoView({ block: 'start', behavior: 'smooth' });
    });
  });

  // The results the report was made from, as files again.
  Array.prototype.forEach.call(document.querySelectorAll('[data-download]'), function (button) {
    button.addEventListener('click', function () {
      var results = JSON.parse(document.getElementById('report-results').textContent);
      var run = results[+button.getAttribute('data-download')];
      var url = URL.createObjectURL(new Blob([JSON.stringify(run, null, 2)], { type: 'application/json' }));
      var a = document.createElement('a');
      a.href = url;
      a.download = button.getAttribute('data-filename');
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
    });
  });

  var pending = false;
  window.addEventListener('resize', function () {
    if (pending) return;
    pending = true;
    requestAnimationFrame(function () {
      pending = false;
      var shown = document.querySelector('[role="tabpanel"]:not([hidden])');
      if (shown) showCharts(shown);
    });
  });

  var wanted = location.hash.slice(1);
  var first = tabs.filter(function (tab) { return tab.getAttribute('data-tab') === wanted; })[0] || tabs[0];
  if (first) select(first, false);
})();
`;
