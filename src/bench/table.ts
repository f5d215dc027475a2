// The plain-text summary every test prints when it ends (stdout), before the file paths.
import type { EndpointResult } from './results.js';

export function formatTable(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((row) => row.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  // The first column (names) reads left to right; numbers line up on the right.
  const line = (row: string[]) =>
    row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return cells.map(line).join('\n');
}

export function errorSummary(errors: Record<string, number>): string {
  const parts = Object.entries(errors).map(([kind, n]) => `${kind}:${n}`);
  return parts.length ? parts.join(' ') : '-';
}

export function endpointTable(endpoints: EndpointResult[], first = 'endpoint'): string {
  return formatTable(
    [first, 'requests', 'req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'errors'],
    endpoints.map((e) => [
      e.endpoint,
      e.requests,
      e.throughput.toFixed(1),
      e.latency.p50.toFixed(1),
      e.latency.p90.toFixed(1),
      e.latency.p99.toFixed(1),
      e.latency.max.toFixed(1),
      errorSummary(e.errors),
    ]),
  );
}
