import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { exportedNames, metricNames, promtool } from './promql.js';

// deploy/prometheus: the scrape config and the alert rules validate with promtool, the rules'
// unit tests (alerts.test.yml) pass, and every series the rules read is one Inkstone exports.

const DIR = join(import.meta.dirname, '../../deploy/prometheus');
const run = promisify(execFile);

async function check(args: string[], cwd = DIR): Promise<string> {
  const tool = promtool()!;
  try {
    const { stdout, stderr } = await run(tool, args, { cwd });
    return `${stdout}${stderr}`;
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string };
    throw new Error(`promtool ${args.join(' ')} failed:\n${failed.stdout ?? ''}${failed.stderr ?? ''}`, {
      cause: error,
    });
  }
}

/** The `expr:` of every rule, single-line or a `|` block. */
function ruleExpressions(yaml: string): { alert: string; expr: string }[] {
  const found: { alert: string; expr: string }[] = [];
  const lines = yaml.split('\n');
  let alert = '';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const named = /^\s*- alert: (\S+)/.exec(line);
    if (named) alert = named[1]!;
    const expr = /^(\s*)expr: (.*)$/.exec(line);
    if (!expr) continue;
    if (expr[2]!.trim() !== '|') {
      found.push({ alert, expr: expr[2]! });
      continue;
    }
    const body: string[] = [];
    while (i + 1 < lines.length && (lines[i + 1]!.trim() === '' || indent(lines[i + 1]!) > expr[1]!.length)) {
      body.push(lines[++i]!);
    }
    found.push({ alert, expr: body.join('\n') });
  }
  return found;
}
const indent = (line: string) => line.length - line.trimStart().length;

describe('deploy/prometheus', () => {
  const have = promtool() !== undefined;
  let site: TestApp;
  beforeAll(async () => {
    site = await createTestApp('sqlite');
  });
  afterAll(async () => {
    await site?.close();
  });

  it.skipIf(!have)('prometheus.yml passes promtool check config (with its token file in place)', async () => {
    // The main-port job reads the scrape token from a file next to the config, which promtool
    // insists exists: check a copy with one.
    const dir = mkdtempSync(join(tmpdir(), 'inkstone-prometheus-'));
    try {
      for (const file of ['prometheus.yml', 'alerts.yml']) copyFileSync(join(DIR, file), join(dir, file));
      writeFileSync(join(dir, 'inkstone-metrics-token'), 'a-token-of-sixteen-chars\n');
      const out = await check(['check', 'config', 'prometheus.yml'], dir);
      expect(out).toMatch(/SUCCESS: 9 rules found/);
      expect(out).toMatch(/is valid prometheus config file syntax/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!have)('alerts.yml passes promtool check rules and its unit tests', async () => {
    expect(await check(['check', 'rules', 'alerts.yml'])).toMatch(/SUCCESS: 9 rules found/);
    expect(await check(['test', 'rules', 'alerts.test.yml'])).toMatch(/SUCCESS/);
  });

  it('names the alerts the issue asks for, each reading only series Inkstone exports', async () => {
    const rules = ruleExpressions(readFileSync(join(DIR, 'alerts.yml'), 'utf8'));
    expect(rules.map((rule) => rule.alert).sort()).toEqual(
      [
        'InkstoneAiCircuitOpen',
        'InkstoneAiFailureRate',
        'InkstoneAiQueueBacklogGrowing',
        'InkstoneCacheHitRatioLow',
        'InkstoneHighErrorRate',
        'InkstoneHighLatencyP95',
        'InkstoneInstanceDown',
        'InkstoneJobQueueBacklogGrowing',
        'InkstoneMemoryGrowing',
      ].sort(),
    );
    const exported = await exportedNames(site.app);
    for (const { alert, expr } of rules) {
      const names = metricNames(expr);
      expect(names.length, alert).toBeGreaterThan(0);
      for (const name of names) expect(exported.has(name), `${alert} reads ${name}`).toBe(true);
    }
  });

  it('the name extractor finds metric names and nothing else', () => {
    expect(
      metricNames(
        'histogram_quantile(0.95, sum by (job, le) (rate(http_request_duration_seconds_bucket{route!="x"}[5m]))) > 0.5 and up == 1',
      ).sort(),
    ).toEqual(['http_request_duration_seconds_bucket', 'up']);
    expect(metricNames('sum(rate(a_total{x=~"by|on"}[$__rate_interval])) / ignoring (y) b')).toEqual([
      'a_total',
      'b',
    ]);
  });
});
