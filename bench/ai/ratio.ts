// The AI benchmark's result as the results schema's RatioSection, so `inkstone bench report`
// draws it and `inkstone bench compare` compares two runs. Each row is a path measured against
// a baseline of the same run: time to first token against straight to the model (ratio: the
// baseline's p50 ÷ the row's, 1 = no overhead, lower is slower); generations per second against
// direct or the model's capacity (the row's ÷ the baseline's). Rows that measured no latency
// (throughput windows count completions) carry an empty one (n 0). What fits no row (memory,
// coalescing, two instances) goes in the notes.
import type { Latency, RatioSection } from '../../src/bench/results.js';
import { round, summarize } from '../../src/bench/stats.js';
import type { AiBenchResult } from './run.js';

type Row = RatioSection['rows'][number];

const NONE: Latency = summarize([]);

/** Baseline p50 ÷ this p50: how much of direct's speed is left. */
const speed = (baseline: Latency, path: Latency) => (path.p50 > 0 ? round(baseline.p50 / path.p50, 3) : 0);

export function aiSection(r: AiBenchResult): RatioSection {
  const rows: Row[] = [];
  const t = r.targets;
  const overheadGoal = `overhead < ${t.overheadP50Ms} ms at p50, < ${t.overheadP99Ms} ms at p99`;
  for (const x of r.ttft) {
    const group = `ttft, ${x.concurrency} streams`;
    rows.push(
      {
        group,
        target: 'direct',
        throughput: 0,
        latency: x.direct,
        ratio: null,
        errors: x.errors.direct.count,
      },
      {
        group,
        target: 'inkstone',
        throughput: 0,
        latency: x.inkstone,
        ratio: speed(x.direct, x.inkstone),
        goal: overheadGoal,
        pass: x.pass,
        errors: x.errors.inkstone.count,
      },
    );
    // The control: a bare relay's own overhead, no goal.
    if (x.relay)
      rows.push({
        group,
        target: 'bare relay (control)',
        throughput: 0,
        latency: x.relay,
        ratio: speed(x.direct, x.relay),
        errors: x.errors.relay?.count ?? 0,
      });
  }
  if (r.doors) {
    const d = r.doors;
    const group = `ttft by door, ${d.concurrency} streams`;
    rows.push({
      group,
      target: 'direct',
      throughput: 0,
      latency: d.ttft.direct,
      ratio: null,
      errors: d.errors.direct.count,
    });
    for (const door of ['editor', 'openai'] as const)
      rows.push({
        group,
        target: `${door} door`,
        throughput: 0,
        latency: d.ttft[door],
        ratio: speed(d.ttft.direct, d.ttft[door]),
        goal: overheadGoal,
        pass: d.pass,
        errors: d.errors[door].count,
      });
  }
  const p = r.throughput;
  if (p) {
    const group = `generations/s, ${p.slots} slots`;
    const errors = (path: string) =>
      p.rounds.filter((x) => x.path === path).reduce((sum, x) => sum + x.errors.count, 0);
    rows.push(
      {
        group,
        target: 'direct',
        throughput: p.directPerSecond,
        latency: NONE,
        ratio: null,
        errors: errors('direct'),
      },
      {
        group,
        target: 'inkstone',
        throughput: p.inkstonePerSecond,
        latency: NONE,
        ratio: p.ratio,
        goal: `≥ ${t.throughputRatio}× direct`,
        pass: p.pass,
        errors: errors('inkstone'),
      },
    );
    if (p.openaiPerSecond !== undefined && p.openaiRatio !== undefined)
      rows.push({
        group,
        target: 'openai door',
        throughput: p.openaiPerSecond,
        latency: NONE,
        ratio: p.openaiRatio,
        errors: errors('openai'),
      });
  }
  if (r.jobs) {
    for (const run of [r.jobs.inProcess, ...(r.jobs.bullmq ? [r.jobs.bullmq] : [])]) {
      rows.push({
        group: `jobs/s vs capacity (${run.capacityPerSecond}/s)`,
        target: run.queue,
        throughput: run.burst.perSecond,
        latency: run.burst.complete,
        ratio: run.ratio,
        pass: run.burst.completed === run.burst.jobs && run.errors.count === 0,
        errors: run.errors.count + run.errors.submit.length,
      });
    }
  }
  if (r.replay) {
    rows.push({
      group: 'cache replay',
      target: 'inkstone',
      throughput: 0,
      latency: r.replay.ttft,
      ratio: null,
      goal: `p99 < ${t.replayMs} ms`,
      pass: r.replay.pass,
      errors: r.replay.errors.count,
    });
    // The same client against a server that answers at once: what this machine allows.
    rows.push({
      group: 'cache replay',
      target: 'server answering at once',
      throughput: 0,
      latency: r.replay.floor,
      ratio: null,
      pass: r.replay.floor.n === r.replay.repeats,
      errors: r.replay.repeats - r.replay.floor.n,
    });
  }
  if (r.thousand) {
    rows.push({
      group: `${r.thousand.streams} concurrent streams`,
      target: 'inkstone',
      throughput: 0,
      latency: r.thousand.ttft,
      ratio: null,
      goal: 'every stream completes, all open at once',
      pass: r.thousand.pass,
      errors: r.thousand.errors.count,
    });
  }
  const notes = [
    ...(r.interrupted ? ['Interrupted (Ctrl-C): the scenarios not shown were not run.'] : []),
    `Layout: ${r.layout.note}.`,
    `Model: the fake model server, ${r.protocol} protocol.`,
  ];
  if (r.thousand) {
    const m = r.thousand.memoryMB;
    notes.push(
      `${r.thousand.streams} streams: RSS ${m.rssBefore} → peak ${m.rssPeak} MB (${m.rssAfterGc} MB after GC).`,
    );
  }
  if (r.coalescing)
    notes.push(
      `Coalescing: ${r.coalescing.requests} identical requests → ${r.coalescing.modelCalls} model call(s) (${r.coalescing.pass ? 'pass' : 'MISS'}).`,
    );
  if (r.instances) {
    const i = r.instances;
    notes.push(
      `Two instances: ${i.throughput.twoPerSecond}/s vs one ${i.throughput.onePerSecond}/s (ratio ${i.throughput.ratio}); ${i.coalescing.requests} identical requests across both → ${i.coalescing.modelCalls} model call(s).`,
    );
  }
  if (r.instancesSkipped) notes.push(`Two instances: skipped, ${r.instancesSkipped}`);
  if (r.jobs?.bullmqSkipped) notes.push(`Jobs through BullMQ: skipped, ${r.jobs.bullmqSkipped}`);
  return { kind: 'ratio', bench: 'ai', generator: 'bench/ai (closed-loop streaming clients)', rows, notes };
}
