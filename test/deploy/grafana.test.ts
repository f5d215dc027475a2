import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { exportedNames, metricNames } from './promql.js';

// deploy/grafana: the dashboard is valid JSON, has the panels the issue lists, every panel has a
// PromQL target, and every series a target reads is one an Inkstone app's registry exports.

const DIR = join(import.meta.dirname, '../../deploy/grafana');

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { uid: string };
  targets?: { expr: string; refId: string }[];
}

const dashboard = JSON.parse(readFileSync(join(DIR, 'dashboards/inkstone.json'), 'utf8')) as {
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; query: { query: string } }[] };
};
const panels = dashboard.panels.filter((panel) => panel.type !== 'row');

describe('deploy/grafana', () => {
  let site: TestApp;
  beforeAll(async () => {
    site = await createTestApp('sqlite');
  });
  afterAll(async () => {
    await site?.close();
  });

  it('has the panels of the original design and of the issue, each with a target', () => {
    const titles = panels.map((panel) => panel.title);
    for (const wanted of [
      /requests per minute/i,
      /latency p50 \/ p90 \/ p95/i,
      /cache hit rate/i,
      /active users/i,
      /error rate/i,
      /ai generation time/i,
      /time to first token/i,
      /tokens per second/i,
      /queue/i,
      /database pool/i,
    ]) {
      expect(
        titles.some((title) => wanted.test(title)),
        `${wanted}`,
      ).toBe(true);
    }
    expect(new Set(dashboard.panels.map((panel) => panel.id)).size).toBe(dashboard.panels.length);
    for (const panel of panels) {
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets!) expect(target.expr, panel.title).toMatch(/\S/);
    }
  });

  it("shows the BullMQ queue's jobs by state, merged across the processes that all report it", () => {
    const reading = panels.flatMap((panel) =>
      (panel.targets ?? []).filter((t) => /\binkstone_queue_jobs\b/.test(t.expr)).map((t) => t.expr),
    );
    expect(reading).toHaveLength(1);
    // Every serve and worker process reports the same queue: a sum would count it once per process.
    expect(reading[0]).toMatch(/^max by \(state\) \(inkstone_queue_jobs\{/);
  });

  it('reads only series an Inkstone app exports', async () => {
    const exported = await exportedNames(site.app);
    const exprs = panels.flatMap((panel) =>
      panel.targets!.map((t) => ({ title: panel.title, expr: t.expr })),
    );
    // A variable's label_values(selector, label): the selector is PromQL, the label is not.
    const selector = (query: string) => query.replace(/^label_values\((.*),\s*\w+\)$/, '$1');
    exprs.push(
      ...dashboard.templating.list.map((v) => ({ title: `$${v.name}`, expr: selector(v.query.query) })),
    );
    for (const { title, expr } of exprs) {
      const names = metricNames(expr);
      expect(names.length, `${title}: ${expr}`).toBeGreaterThan(0);
      for (const name of names) expect(exported.has(name), `${title} reads ${name}`).toBe(true);
    }
  });

  it('is provisioned: the data source uid the panels use, and a provider for the dashboards folder', () => {
    const datasources = readFileSync(join(DIR, 'provisioning/datasources/prometheus.yml'), 'utf8');
    const uid = /^\s*uid: (\S+)$/m.exec(datasources)?.[1];
    expect(uid).toBeDefined();
    for (const panel of panels) expect(panel.datasource?.uid, panel.title).toBe(uid);
    expect(datasources).toMatch(/^\s*type: prometheus$/m);
    const providers = readFileSync(join(DIR, 'provisioning/dashboards/inkstone.yml'), 'utf8');
    expect(providers).toMatch(/^\s*type: file$/m);
    expect(providers).toMatch(/^\s*path: \S+$/m);
    expect(readdirSync(join(DIR, 'dashboards')).filter((f) => f.endsWith('.json'))).toEqual([
      'inkstone.json',
    ]);
  });
});
