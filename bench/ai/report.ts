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
    `Time to first token, ms (first token after ${s.ttft.timings.ttftMs} ms, then one every ${s.ttft.timings.interTokenMs} ms; distinct prompts; ${s.ttft.rounds} rounds alternating which path goes first; before the first level, ${s.ttft.jitWarmup} streams on each path to warm up)`,
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
        'bare relay: overhead p50',
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
        x.relayOverhead ? signed(x.relayOverhead.p50) : '-',
        x.relayOverhead ? signed(x.relayOverhead.p99) : '-',
        ms(x.accepted.p50),
        `${x.loopDelay.p99}/${x.loopDelay.max}`,
        `${ms(x.cpuMsPerStream.inkstone)} ms`,
        x.loadAverage[0].toFixed(2),
        verdict(x.pass),
      ]),
    ),
    `Targets: overhead < ${r.targets.overheadP50Ms} ms at p50 and < ${r.targets.overheadP99Ms} ms at p99. "bare relay": the control, the same requests through a relay that only pipes them to the model and back, on Inkstone's CPU (what one more process costs here). "accepted": until Inkstone's start event (the request passed authentication, limits, cache and queue); loop delay: how late Inkstone's event loop ran a 10 ms timer, ms; CPU: Inkstone's user + system time per stream.`,
  );
  const leg = (x: { p50: number; p99: number }) => `${ms(x.p50)} / ${ms(x.p99)}`;
  out.push(
    '',
    'Where the first token spends its time, ms p50 / p99 (client and fake clocks)',
    table(
      ['streams', 'path', 'request → model', "model's own first token", 'token → client'],
      r.ttft.flatMap((x) =>
        (['direct', 'inkstone', 'relay'] as const).flatMap((path) => {
          const legs = x.legs[path];
          if (!legs) return [];
          return [[String(x.concurrency), path, leg(legs.toModel), leg(legs.model), leg(legs.back)]];
        }),
      ),
    ),
  );
  const errors = r.ttft.flatMap((x) => [...x.errors.direct.examples, ...x.errors.inkstone.examples]);
  if (errors.length) out.push(`Errors: ${errors.join('; ')}`);
  if (r.doors) out.push('', ...doorsTable(r));

  const rows: string[][] = [];
  const t = r.throughput;
  if (t) {
    rows.push([
      `Throughput at the model's capacity (${t.slots} slots, Inkstone's concurrency ${t.slots}, ${t.clients} clients)`,
      `direct ${t.directPerSecond}/s, Inkstone ${t.inkstonePerSecond}/s: ratio ${t.ratio.toFixed(3)} (most possible ${t.capacityPerSecond}/s)`,
      `≥ ${r.targets.throughputRatio} (LiteLLM users report 0.56)`,
      verdict(t.pass),
    ]);
    if (t.openaiPerSecond !== undefined && t.openaiRatio !== undefined) {
      rows.push([
        '  … through the OpenAI door, same rounds',
        `OpenAI door ${t.openaiPerSecond}/s: ratio to direct ${t.openaiRatio.toFixed(3)}`,
        `≥ ${r.targets.throughputRatio}`,
        '',
      ]);
    }
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
      `first token p50 ${ms(p.ttft.p50)} ms, p99 ${ms(p.ttft.p99)} ms (a server answering at once, same client: p50 ${ms(p.floor.p50)}, p99 ${ms(p.floor.p99)}); ${p.modelCalls} model calls (first, uncached: ${ms(p.missTtftMs)} ms); loop delay p99 ${p.loopDelay.p99} ms, max ${p.loopDelay.max} ms`,
      `p99 < ${r.targets.replayMs} ms`,
      verdict(p.pass),
    ]);
  }
  rows.push(...jobRows(r), ...instanceRows(r));
  if (rows.length) out.push('', table(['Scenario', 'Measured', 'Target', ''], rows, true));
  if (t || k || c) {
    out.push(
      '',
      'Fake model timings:',
      ...(t ? [`  throughput: ${timings(s.throughput.timings)}, ${t.slots} parallel slots`] : []),
      ...(k ? [`  ${k.streams} streams: ${timings(s.thousand.timings)}, ${k.streams} parallel slots`] : []),
      ...(c ? [`  coalescing: ${timings(s.coalescing.timings)}`] : []),
      ...(r.jobs ? [`  jobs and two instances' throughput: as throughput`] : []),
      ...(r.instances ? [`  two instances' coalescing: ${timings(s.instances.coalescing.timings)}`] : []),
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
  if (r.interrupted) out.push('Interrupted (Ctrl-C): the scenarios not shown were not run.');
  return out.join('\n');
}

function doorsTable(r: AiBenchResult): string[] {
  const d = r.doors!;
  const names = {
    direct: 'direct to the model',
    editor: 'editor door, /api/v1/ai/write',
    openai: 'OpenAI door, /v1/chat/completions',
  };
  return [
    `Time to first token by door, ms (${d.concurrency} streams, ${d.answerTokens} tokens, the TTFT timings; ${r.settings.doors.rounds} rounds, each path first in turn; OpenAI door: model "${d.model}" from GET /v1/models, stream_options.include_usage)`,
    table(
      ['path', 'samples', 'p50', 'p99', 'overhead p50', 'p99', 'accepted p50', 'errors'],
      (['direct', 'editor', 'openai'] as const).map((path) => {
        const ttft = d.ttft[path];
        const overhead = path === 'direct' ? undefined : d.overhead[path];
        return [
          names[path],
          String(ttft.n),
          ms(ttft.p50),
          ms(ttft.p99),
          overhead ? signed(overhead.p50) : '',
          overhead ? signed(overhead.p99) : '',
          path === 'direct' ? '' : ms(d.accepted[path].p50),
          String(d.errors[path].count),
        ];
      }),
    ),
    `OpenAI door minus editor door: p50 ${signed(d.overhead.openaiVsEditor.p50)}, p99 ${signed(d.overhead.openaiVsEditor.p99)} ms. Target for the OpenAI door's overhead: the TTFT table's (< ${r.targets.overheadP50Ms} / < ${r.targets.overheadP99Ms} ms): ${verdict(d.pass)}.`,
  ];
}

function jobRows(r: AiBenchResult): string[][] {
  const j = r.jobs;
  if (!j) return [];
  const rows: string[][] = [];
  const runs = [j.inProcess, ...(j.bullmq ? [j.bullmq] : [])];
  for (const run of runs) {
    const name = run.queue === 'bullmq' ? 'BullMQ (Redis)' : 'in-process queue';
    const { sequential: q, burst: b } = run;
    rows.push(
      [
        `Jobs, ${name}: ${b.jobs} submitted by ${b.submitters} clients`,
        `${b.perSecond} jobs/s (capacity ${run.capacityPerSecond}/s, ratio ${run.ratio.toFixed(3)}); ${b.completed}/${b.jobs} completed, ${b.modelCalls} model calls; submit p50 ${ms(b.submit.p50)} p99 ${ms(b.submit.p99)} ms; done p50 ${ms(b.complete.p50)} p99 ${ms(b.complete.p99)} ms`,
        'all completed',
        verdict(run.errors.count === 0 && run.errors.submit.length === 0 && b.completed === b.jobs),
      ],
      [
        `  one at a time (${q.jobs} jobs)`,
        `submit p50 ${ms(q.submit.p50)} p99 ${ms(q.submit.p99)} ms; first token p50 ${ms(q.firstToken.p50)} ms; done p50 ${ms(q.complete.p50)} p99 ${ms(q.complete.p99)} ms`,
        '',
        '',
      ],
    );
    const examples = [...run.errors.examples, ...run.errors.submit];
    if (examples.length) rows.push(['  errors', examples.join('; '), '', '']);
  }
  if (j.bullmqVsInProcess) {
    const v = j.bullmqVsInProcess;
    rows.push([
      '  BullMQ vs in-process',
      `jobs/s ratio ${v.perSecondRatio.toFixed(3)}; one at a time, done p50 ${signed(v.sequentialCompleteP50Ms)} ms`,
      '',
      '',
    ]);
  }
  if (j.bullmqSkipped) rows.push(['Jobs, BullMQ (Redis)', `SKIPPED: ${j.bullmqSkipped}`, '', '']);
  return rows;
}

function instanceRows(r: AiBenchResult): string[][] {
  if (r.instancesSkipped) return [['Two instances, one Redis', `SKIPPED: ${r.instancesSkipped}`, '', '']];
  const i = r.instances;
  if (!i) return [];
  const t = i.throughput;
  const c = i.coalescing;
  return [
    [
      `Two instances, one Redis, one ${i.database === 'postgres' ? 'PostgreSQL' : i.database}: throughput (${t.slots} slots, ${t.clients} clients alternating)`,
      `one instance ${t.onePerSecond}/s, both ${t.twoPerSecond}/s: ratio ${t.ratio.toFixed(3)} (most possible ${t.capacityPerSecond}/s; model queue at most ${Math.max(...t.rounds.map((x) => x.modelMaxQueued))})`,
      '',
      '',
    ],
    [
      `  ${c.requests} identical concurrent requests split ${c.split[0]}/${c.split[1]}`,
      `${c.modelCalls} model call(s), ${c.complete}/${c.requests} complete answers`,
      'exactly 1 call',
      verdict(i.pass),
    ],
  ];
}
