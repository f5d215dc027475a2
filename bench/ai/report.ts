// The run as text: what ran where, under what load, and each scenario against its target.
import type { FakeTimings } from './ipc.js';
import type { AiBenchResult } from './run.js';

/** Numbers right-aligned, text (the first column, or every column when `text`) left-aligned. */
function table(header: string[], rows: string[][], text = false): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 || text ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

const ms = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '–');
const signed = (x: number) => (x >= 0 ? `+${ms(x)}` : ms(x));
const verdict = (pass: boolean | undefined) => (pass === undefined ? '' : pass ? 'PASS' : 'MISS');
const timings = (t: Partial<FakeTimings>) =>
  `first token after ${t.ttftMs} ms, then one every ${t.interTokenMs} ms, ${t.answerTokens} tokens`;

export function formatReport(r: AiBenchResult): string {
  const out: string[] = [];
  const { settings: s } = r;
  out.push(
    `Inkstone AI benchmark · ${r.startedAt} · Node ${r.machine.node} · ${r.machine.cpus} CPUs (${r.machine.cpuModel})`,
    `Processes: load client (this one), fake model server, Inkstone; ${r.layout.note}.`,
    `Load average (1, 5, 15 min): ${r.loadAverage.start.join(' ')} at the start, ${r.loadAverage.end.join(' ')} at the end.`,
    `Model: the fake model server (a simulator), ${r.protocol} protocol, fixed timings per scenario (below).`,
    '',
    `Time to first token, ms (first token after ${s.ttft.timings.ttftMs} ms, then one every ${s.ttft.timings.interTokenMs} ms; distinct prompts; ${s.ttft.rounds} rounds alternating which path goes first)`,
    table(
      [
        'streams',
        'tokens',
        'samples',
        'direct p50',
        'p99',
        'Inkstone p50',
        'p99',
        'overhead p50',
        'p99',
        'accepted p50',
        'loop delay p99/max',
        'Inkstone CPU/stream',
        'load avg',
        '',
      ],
      r.ttft.map((x) => [
        String(x.concurrency),
        String(x.answerTokens),
        `${x.direct.n}+${x.inkstone.n}`,
        ms(x.direct.p50),
        ms(x.direct.p99),
        ms(x.inkstone.p50),
        ms(x.inkstone.p99),
        signed(x.overhead.p50),
        signed(x.overhead.p99),
        ms(x.accepted.p50),
        `${x.loopDelay.p99}/${x.loopDelay.max}`,
        `${ms(x.cpuMsPerStream.inkstone)} ms`,
        x.loadAverage[0].toFixed(2),
        verdict(x.pass),
      ]),
    ),
    `Targets: overhead < ${r.targets.overheadP50Ms} ms at p50 and < ${r.targets.overheadP99Ms} ms at p99. "accepted": until Inkstone's start event (the request passed authentication, limits, cache and queue); loop delay: how late Inkstone's event loop ran a 10 ms timer, ms; CPU: Inkstone's user + system time per stream.`,
  );
  const leg = (x: { p50: number; p99: number }) => `${ms(x.p50)} / ${ms(x.p99)}`;
  out.push(
    '',
    'Where the first token spends its time, ms p50 / p99 (client and fake clocks)',
    table(
      ['streams', 'path', 'request → model', "model's own first token", 'token → client'],
      r.ttft.flatMap((x) =>
        (['direct', 'inkstone'] as const).map((path) => [
          String(x.concurrency),
          path,
          leg(x.legs[path].toModel),
          leg(x.legs[path].model),
          leg(x.legs[path].back),
        ]),
      ),
    ),
  );
  const errors = r.ttft.flatMap((x) => [...x.errors.direct.examples, ...x.errors.inkstone.examples]);
  if (errors.length) out.push(`Errors: ${errors.join('; ')}`);

  const rows: string[][] = [];
  const t = r.throughput;
  if (t) {
    rows.push([
      `Throughput at the model's capacity (${t.slots} slots, Inkstone's concurrency ${t.slots}, ${t.clients} clients)`,
      `direct ${t.directPerSecond}/s, Inkstone ${t.inkstonePerSecond}/s: ratio ${t.ratio.toFixed(3)} (most possible ${t.capacityPerSecond}/s)`,
      `≥ ${r.targets.throughputRatio} (LiteLLM users report 0.56)`,
      verdict(t.pass),
    ]);
  }
  const k = r.thousand;
  if (k) {
    const m = k.memoryMB;
    rows.push(
      [
        `${k.streams} concurrent streams, one Inkstone process`,
        `${k.completed}/${k.streams} complete, ${k.errors.count} errors, ${k.modelMaxInFlight} generating at once`,
        'no error, all in flight',
        verdict(k.pass),
      ],
      [
        '  its memory (RSS, MB)',
        `before ${m.rssBefore}, peak ${m.rssPeak}, after ${m.rssAfter}, after GC ${m.rssAfterGc}`,
        '',
        '',
      ],
      ['  its heap (MB)', `before ${m.heapBefore}, peak ${m.heapPeak}, after GC ${m.heapAfterGc}`, '', ''],
      [
        '  first token, ms',
        `p50 ${ms(k.ttft.p50)}, p99 ${ms(k.ttft.p99)}; Inkstone's event-loop delay p99 ${k.loopDelay.p99} ms, max ${k.loopDelay.max} ms`,
        '',
        '',
      ],
    );
  }
  const c = r.coalescing;
  if (c) {
    rows.push([
      `Coalescing: ${c.requests} identical concurrent requests`,
      `${c.modelCalls} model call(s), ${c.complete}/${c.requests} complete answers`,
      'exactly 1 call',
      verdict(c.pass),
    ]);
  }
  const p = r.replay;
  if (p) {
    rows.push([
      `Cache hit replayed (${p.repeats} repeats, one at a time)`,
      `first token p50 ${ms(p.ttft.p50)} ms, p99 ${ms(p.ttft.p99)} ms; ${p.modelCalls} model calls (first, uncached: ${ms(p.missTtftMs)} ms); loop delay p99 ${p.loopDelay.p99} ms, max ${p.loopDelay.max} ms`,
      `p99 < ${r.targets.replayMs} ms`,
      verdict(p.pass),
    ]);
  }
  if (rows.length) out.push('', table(['Scenario', 'Measured', 'Target', ''], rows, true));
  if (t || k || c) {
    out.push(
      '',
      'Fake model timings:',
      ...(t ? [`  throughput: ${timings(s.throughput.timings)}, ${t.slots} parallel slots`] : []),
      ...(k ? [`  ${k.streams} streams: ${timings(s.thousand.timings)}, ${k.streams} parallel slots`] : []),
      ...(c ? [`  coalescing: ${timings(s.coalescing.timings)}`] : []),
    );
  }
  if (r.profile) {
    const f = r.profile;
    out.push(
      '',
      `CPU profile of Inkstone's main thread over the ${f.windowMs} ms measured (${f.busyMs} ms busy, ${f.idleMs} ms idle): ${f.file}`,
      table(
        ['function (self time)', 'where', 'ms', '%'],
        f.top.map((x) => [x.function, x.where, x.selfMs.toFixed(1), x.percent.toFixed(1)]),
      ),
      '',
      table(
        ['self time by module', 'ms', '%'],
        f.modules.map((x) => [x.module, x.selfMs.toFixed(1), x.percent.toFixed(1)]),
      ),
    );
  }
  out.push('', `Overall: ${r.pass ? 'every target met' : 'some targets missed (MISS above)'}.`);
  return out.join('\n');
}
