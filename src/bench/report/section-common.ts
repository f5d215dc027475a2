// What every section's tab is built with: chart ids, latency cells, error summaries.
import type { EndpointResult, ErrorCounts, Latency } from '../results.js';
import { formatNumber } from './format.js';
import type { Labels } from './i18n.js';
import { type Cell, type Chart, num, type Tab, text } from './model.js';

/** Builds charts with ids unique in the page. */
export class Context {
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

export type TabContent = Pick<Tab, 'cards' | 'settings' | 'notes' | 'blocks'>;

export const LATENCY_COLUMNS = ['n', 'mean', 'min', 'p50', 'p90', 'p95', 'p99', 'max'] as const;

// With no samples a Latency is all zeros (n 0): JSON has no NaN. A chart or table showing
// "0 ms" would claim the fastest answer yet, so those figures are left out and shown as "—".
export function measured(latency: Latency | undefined, key: Exclude<keyof Latency, 'n'>): number | null {
  return latency && latency.n > 0 ? latency[key] : null;
}

export function latencyCell(latency: Latency, key: keyof Latency, at: string): Cell {
  if (key === 'n') return num(latency.n, 'count', at);
  return latency.n > 0 ? num(latency[key], 'ms', at) : text('—');
}

/** 'mean', 'min' and 'max' in the report's language; percentiles are pNN in any. */
export function latencyName(L: Labels, key: (typeof LATENCY_COLUMNS)[number]): string {
  return key === 'mean' ? L.mean : key === 'min' ? L.min : key === 'max' ? L.max : key;
}

export function errorsText(errors: ErrorCounts): string {
  const kinds = Object.entries(errors).filter(([, count]) => count > 0);
  return kinds.map(([kind, count]) => `${kind}: ${formatNumber(count, 'count')}`).join(', ');
}

export function sumErrors(errors: ErrorCounts): number {
  return Object.values(errors).reduce((sum, count) => sum + count, 0);
}

/** Endpoint names in the order they first appear. */
export function endpointNames(lists: readonly EndpointResult[][]): string[] {
  const names = new Set<string>();
  for (const list of lists) for (const endpoint of list) names.add(endpoint.endpoint);
  return [...names];
}
