import { existsSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { queueMetrics } from '../../src/metrics/queue.js';

const PROMTOOL = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((path) => existsSync(path));

/**
 * promtool's path, or undefined with a loud message (the tests then skip); under CI=true a
 * missing promtool fails instead (.ci/run installs Debian's `prometheus` package).
 */
export function promtool(): string | undefined {
  if (PROMTOOL) return PROMTOOL;
  if (process.env.CI === 'true')
    throw new Error('promtool is required under CI (apt-get install prometheus)');
  console.warn('\n!!! SKIPPING promtool checks: install Debian package `prometheus` for promtool.\n');
  return undefined;
}

const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'inf',
  'nan',
]);

/**
 * The metric names a PromQL expression selects. Small on purpose: label matchers, grouping
 * lists, ranges, strings and Grafana variables are removed, then every identifier that is not
 * called (a function or an aggregation) and not a keyword is a metric name.
 */
export function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\$\{?\w+\}?/g, '')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const match of bare.matchAll(/[a-zA-Z_:][\w:]*/g)) {
    const after = bare.slice(match.index + match[0].length).trimStart();
    if (after.startsWith('(') || KEYWORDS.has(match[0].toLowerCase())) continue;
    names.add(match[0]);
  }
  return [...names];
}

/**
 * Every series name the app's registry can export (the families of a scrape, with a histogram's
 * _bucket, _sum and _count), and `up`, which Prometheus adds to every target. The BullMQ
 * queue's family (src/metrics/queue.ts) is registered only with REDIS_URL, which the deploy
 * tests' app has none of: it is read from its own definition, on a registry of its own.
 */
export async function exportedNames(app: FastifyInstance): Promise<Set<string>> {
  const withRedis = new Registry();
  queueMetrics(withRedis, async () => ({ waiting: 0, active: 0, delayed: 0, failed: 0 }));
  const text = (await app.metrics.registry.metrics()) + (await withRedis.metrics());
  const names = new Set(['up']);
  for (const match of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name, type] = match as unknown as [string, string, string];
    names.add(name);
    if (type === 'histogram') for (const end of ['_bucket', '_sum', '_count']) names.add(name + end);
    if (type === 'summary') for (const end of ['_sum', '_count']) names.add(name + end);
  }
  return names;
}
