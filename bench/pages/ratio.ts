// The page benchmark's result as the results schema's RatioSection: one row per database and
// target, its ratio to the bare server of the same run, so `inkstone bench report` draws it
// and `inkstone bench compare` compares two runs.
import type { Latency, RatioSection } from '../../src/bench/results.js';
import { GOALS, type PagesBenchResult, type TargetName } from './run.js';
import type { WrkResult } from './wrk.js';

/** The baselines: every other target's ratio is against one of them. */
const BASELINES = new Set<TargetName>(['baseline', 'bare-cluster']);

export function wrkLatency(wrk: WrkResult): Latency {
  return { n: wrk.requests, ...wrk.latencyMs };
}

export function wrkErrors(wrk: WrkResult): number {
  return Object.values(wrk.errors).reduce((a, b) => a + b, 0);
}

function goalText(target: TargetName): string | undefined {
  const goal = GOALS[target];
  if (!goal) return undefined;
  const parts = [
    goal.ratio === undefined ? '' : `≥ ${goal.ratio}× the bare server`,
    goal.p99OverBare === undefined ? '' : `p99 ≤ ${goal.p99OverBare}× the bare p99`,
    goal.p99OverP50 === undefined ? '' : `p99 ≤ ${goal.p99OverP50}× p50`,
  ];
  return parts.filter(Boolean).join(', ');
}

/**
 * `withGoals`: the page benchmark's own goals (GOALS) and what missed them; the gate leaves them
 * out, since its floors are what it judges.
 */
export function pagesSection(result: PagesBenchResult, bench = 'pages', withGoals = true): RatioSection {
  const rows: RatioSection['rows'] = [];
  const notes = [
    ...(result.interrupted
      ? ['Interrupted (Ctrl-C): the targets after the last row were not measured.']
      : []),
    `Layout: ${result.layout.note}.`,
    `Load average ${result.loadAverage.start.join(' ')} at the start, ${result.loadAverage.end.join(' ')} at the end.`,
  ];
  for (const run of result.runs) {
    if (run.skipped) {
      notes.push(`${run.database}: skipped, ${run.skipped}`);
      continue;
    }
    notes.push(
      `${run.database}: the bare server sent the home page's exact bytes (${run.homeBytes} B): ${run.baselineSameBytes ? 'yes' : 'NO'}.`,
    );
    for (const x of run.targets) {
      const goal = withGoals ? goalText(x.target) : undefined;
      rows.push({
        group: run.database,
        target: x.target,
        throughput: x.wrk.requestsPerSecond,
        latency: wrkLatency(x.wrk),
        ratio: BASELINES.has(x.target) ? null : x.ratio,
        ...(goal ? { goal } : {}),
        pass: withGoals ? x.pass : wrkErrors(x.wrk) === 0,
        errors: wrkErrors(x.wrk),
      });
      if (withGoals && x.missed.length)
        notes.push(`${run.database} ${x.target} missed: ${x.missed.join('; ')}.`);
    }
  }
  return { kind: 'ratio', bench, generator: result.generator, rows, notes };
}
