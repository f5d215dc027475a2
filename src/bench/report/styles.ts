// The report's stylesheet. Fonts: the system UI font first, then CJK faces for each platform
// (PingFang/Hiragino on macOS, Microsoft YaHei on Windows, Noto/Source Han/WenQuanYi on Linux),
// so Chinese labels never fall back to boxes; a Chinese page lists the CJK faces first, since a
// Latin UI font's punctuation and digits look wrong beside Han characters.
const LATIN = `system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial`;
const CJK = `"PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Micro Hei"`;
const MONO = `ui-monospace, "SF Mono", Menlo, Consolas, "DejaVu Sans Mono", monospace`;

export const STYLES = `
:root {
  --ink: #1d2330; --ink-soft: #5b6475; --line: #e3e6ec; --grid: #eceef2;
  --paper: #ffffff; --page: #f5f6f8; --accent: #3b6fb6; --bad: #b3261e; --bad-bg: #fdecea;
  --good: #1e7a43; --warn-bg: #fff6db; --warn-line: #f0d58a;
}
* { box-sizing: border-box; }
html { font-family: ${LATIN}, ${CJK}, sans-serif; color: var(--ink); background: var(--page); }
html:lang(zh) { font-family: ${CJK}, ${LATIN}, sans-serif; }
body { margin: 0; line-height: 1.5; font-size: 15px; }
code, .mono { font-family: ${MONO}; font-size: 0.9em; }
.wrap { max-width: 1180px; margin: 0 auto; padding: 0 20px; }
header.top { background: #1d2330; color: #fff; padding: 22px 0 18px; }
header.top h1 { margin: 0; font-size: 24px; font-weight: 650; letter-spacing: 0.01em; }
header.top p { margin: 4px 0 0; color: #c9cfdb; font-size: 13px; }
.runs { display: grid; gap: 16px; margin: 20px 0; }
.run { background: var(--paper); border: 1px solid var(--line); border-radius: 10px; padding: 16px 18px; }
.run h2 { margin: 0 0 10px; font-size: 17px; display: flex; gap: 12px; align-items: baseline; flex-wrap: wrap; }
.run h2 .when { font-weight: 400; color: var(--ink-soft); font-size: 14px; }
.facts { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(240px, 100%), 1fr)); gap: 6px 24px; margin: 0; }
.facts div { min-width: 0; }
.facts dt { font-size: 12px; color: var(--ink-soft); text-transform: uppercase; letter-spacing: 0.04em; }
html:lang(zh) .facts dt { text-transform: none; letter-spacing: 0; }
.facts dd { margin: 0; overflow-wrap: anywhere; }
.headlines { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(260px, 100%), 1fr)); gap: 12px; margin-top: 14px; }
.headline { border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; background: #fafbfc; }
.headline h3 { margin: 0 0 6px; font-size: 14px; }
.headline h3 a { color: var(--accent); text-decoration: none; }
.headline h3 a:hover { text-decoration: underline; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; }
.card { flex: 1 1 140px; background: var(--paper); border: 1px solid var(--line); border-radius: 8px; padding: 8px 12px; }
.card .label { font-size: 12px; color: var(--ink-soft); }
.card .value { font-size: 20px; font-weight: 650; font-variant-numeric: tabular-nums; }
.card .detail { font-size: 12px; color: var(--ink-soft); }
button.download { font: inherit; font-size: 13px; border: 1px solid var(--line); background: var(--paper); border-radius: 6px; padding: 3px 10px; cursor: pointer; color: var(--accent); margin-left: auto; }
[role="tablist"] { display: flex; flex-wrap: wrap; gap: 4px; border-bottom: 2px solid var(--line); margin-top: 8px; position: sticky; top: 0; background: var(--page); z-index: 2; padding-top: 6px; }
[role="tab"] { font: inherit; font-size: 14px; border: 1px solid transparent; border-bottom: none; background: none; padding: 8px 16px; border-radius: 8px 8px 0 0; cursor: pointer; color: var(--ink-soft); margin-bottom: -2px; }
[role="tab"]:hover { color: var(--ink); background: #eceff4; }
[role="tab"][aria-selected="true"] { color: var(--ink); background: var(--paper); border-color: var(--line); border-bottom: 2px solid var(--paper); font-weight: 600; }
[role="tab"]:focus-visible { outline: 2px solid var(--accent); outline-offset: -2px; }
[role="tabpanel"] { background: var(--paper); border: 1px solid var(--line); border-top: none; border-radius: 0 0 10px 10px; padding: 18px; margin-bottom: 40px; }
[role="tabpanel"][hidden] { display: none; }
.warning { background: var(--warn-bg); border: 1px solid var(--warn-line); border-radius: 8px; padding: 8px 12px; margin-bottom: 14px; }
.settings { font-size: 13px; color: var(--ink-soft); margin: 12px 0 4px; }
.settings span { margin-right: 18px; display: inline-block; }
.settings b { color: var(--ink); font-weight: 600; }
.notes { font-size: 13px; color: var(--ink-soft); padding-left: 18px; }
.block { margin: 26px 0 0; border-top: 1px solid var(--line); padding-top: 16px; }
.block h3 { margin: 0 0 8px; font-size: 16px; }
.block .note { font-weight: 400; font-size: 12px; color: var(--ink-soft); margin-left: 8px; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(420px, 100%), 1fr)); gap: 12px 24px; }
.chart-box h4 { margin: 0 0 4px; font-size: 13px; color: var(--ink-soft); font-weight: 600; }
.chart { width: 100%; min-height: 220px; }
.uplot { width: 100%; }
.u-legend { font-size: 12px; }
.table-box { overflow: auto; max-height: 420px; margin-top: 10px; border: 1px solid var(--line); border-radius: 8px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { padding: 5px 10px; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; }
thead th { position: sticky; top: 0; background: #f0f2f6; font-weight: 600; z-index: 1; }
td.wrap { white-space: normal; min-width: 260px; color: var(--ink-soft); font-size: 12px; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:hover { background: #f7f9fc; }
td.bad .v { color: var(--bad); font-weight: 600; }
.badge { display: inline-block; font-size: 11px; border-radius: 10px; padding: 0 7px; margin-left: 6px; background: #eef1f6; color: var(--ink-soft); font-weight: 500; }
.bad .badge { background: var(--bad-bg); color: var(--bad); }
footer { color: var(--ink-soft); font-size: 12px; padding: 0 0 30px; }
`;
