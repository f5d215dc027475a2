import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { TINY } from '../../bench/ai/options.js';
import { aiSection } from '../../bench/ai/ratio.js';
import { formatReport } from '../../bench/ai/report.js';
import { runAiBench } from '../../bench/ai/run.js';

// The benchmark's every scenario at a tiny size (a few streams of 5 tokens), with the real
// child processes: proves `npm run bench:ai` runs end to end and that its checks can fail.
// Not its numbers: timings on a shared test machine say nothing. The BullMQ and two-instance
// scenarios need Redis and PostgreSQL: without them they are skipped with a reason, which
// fails here only under CI=true.
const CI = process.env.CI === 'true';

describe('npm run bench:ai', () => {
  // Four more Inkstone processes to start (BullMQ, two instances) than the first version.
  it('runs every scenario and reports each against its target', { timeout: 90_000 }, async () => {
    const result = await runAiBench(TINY);

    expect(result.ttft.map((x) => x.concurrency)).toEqual([1, 2]);
    for (const level of result.ttft) {
      expect(level.errors.direct.count + level.errors.inkstone.count).toBe(0);
      expect(level.direct.n).toBeGreaterThanOrEqual(TINY.ttft.levels[0]!.samples);
      expect(level.inkstone.n).toBe(level.direct.n);
      expect(level.inkstone.p50).toBeGreaterThan(0);
      // The control: every stream through the bare relay reached the model and came back.
      expect(level.errors.relay?.count).toBe(0);
      expect(level.relay?.n).toBe(level.direct.n);
      expect(level.relayOverhead?.p50).toBeTypeOf('number');
      expect(level.legs.relay?.model.p50).toBeGreaterThan(0);
      // The fake's record of each request was matched with the client's, on both paths. (Not
      // the legs between processes: under the test runner, on a loaded machine, a leg of a
      // tenth of a millisecond has come out negative, which says nothing about the match.)
      expect(level.legs.inkstone.model.p50).toBeGreaterThan(0);
      expect(level.legs.direct.model.p50).toBeGreaterThan(0);
    }
    expect(result.coalescing).toMatchObject({ requests: 5, modelCalls: 1, complete: 5, tokensEach: [5] });
    expect(result.replay).toMatchObject({ allCached: true, modelCalls: 0 });
    expect(result.replay!.ttft.n).toBe(3);
    // The floor: the same client against the fake answering at once, as many times.
    expect(result.replay!.floor.n).toBe(3);
    expect(result.replay!.floor.p50).toBeGreaterThan(0);
    expect(result.thousand).toMatchObject({
      streams: 4,
      completed: 4,
      modelMaxInFlight: 4,
      allOpenAtOnce: true,
    });
    expect(result.thousand!.memoryMB.rssPeak).toBeGreaterThan(0);
    const throughput = result.throughput!;
    expect(throughput.directPerSecond).toBeGreaterThan(0);
    expect(throughput.inkstonePerSecond).toBeGreaterThan(0);
    // Through Inkstone the model never queues: AI_CONCURRENCY equals its slots.
    const through = throughput.rounds.find((x) => x.path === 'inkstone')!;
    expect(through.modelMaxInFlight).toBe(2);
    expect(through.modelMaxQueued).toBe(0);

    // The OpenAI door, in the same rounds as the editor's door and direct.
    const doors = result.doors!;
    expect(doors.model).toBe('default');
    for (const path of ['direct', 'editor', 'openai'] as const) {
      expect(doors.errors[path].count).toBe(0);
      expect(doors.ttft[path].n).toBe(TINY.doors.samples);
    }
    expect(doors.accepted.openai.p50).toBeGreaterThan(0);
    expect(throughput.openaiPerSecond).toBeGreaterThan(0);
    expect(throughput.rounds.map((x) => x.path).sort()).toEqual(['direct', 'inkstone', 'openai']);

    // Jobs: every one submitted, completed and read back, once per queue.
    const jobs = result.jobs!;
    const runs = [jobs.inProcess, ...(jobs.bullmq ? [jobs.bullmq] : [])];
    for (const run of runs) {
      expect(run.errors.count + run.errors.submit.length).toBe(0);
      expect(run.sequential.jobs).toBe(TINY.jobs.sequential);
      expect(run.burst).toMatchObject({ jobs: 6, completed: 6, modelCalls: 6 });
      expect(run.burst.perSecond).toBeGreaterThan(0);
      expect(run.burst.submit.n).toBe(6);
    }
    if (CI || jobs.bullmq) {
      expect(jobs.bullmqSkipped).toBeUndefined();
      expect(jobs.bullmq!.queue).toBe('bullmq');
      expect(jobs.bullmqVsInProcess!.perSecondRatio).toBeGreaterThan(0);
    } else expect(jobs.bullmqSkipped).toMatch(/Redis/);

    // Two instances: 100 identical requests split across both reach the model once.
    if (CI || result.instances) {
      expect(result.instancesSkipped).toBeUndefined();
      const instances = result.instances!;
      expect(instances.coalescing).toMatchObject({
        requests: 100,
        split: [50, 50],
        modelCalls: 1,
        complete: 100,
        tokensEach: [5],
      });
      // Its shape, not its numbers: a 300 ms window on a busy machine may count nothing.
      expect(instances.throughput.rounds.map((x) => x.path).sort()).toEqual(['one', 'two']);
      expect(instances.throughput.rounds.every((x) => x.errors.count === 0)).toBe(true);
    } else expect(result.instancesSkipped).toMatch(/Redis|PostgreSQL/);

    const report = formatReport(result);
    expect(report).toContain('Time to first token');
    expect(report).toContain('bare relay: overhead p50');
    expect(report).toMatch(/\n1\s+relay\s/);
    expect(report).toContain('Load average');
    expect(report).toMatch(/Coalescing: 5 identical concurrent requests\s+1 model call/);
    expect(report).toContain('OpenAI door, /v1/chat/completions');
    expect(report).toContain('Jobs, in-process queue');
    if (result.instances)
      expect(report).toMatch(/100 identical concurrent requests split 50\/50\s+1 model call/);

    // As results.json carries it (inkstone bench ai): each path against direct in the same run.
    const section = aiSection(result);
    expect(section).toMatchObject({ kind: 'ratio', bench: 'ai' });
    for (const level of result.ttft) {
      const rows = section.rows.filter((x) => x.group === `ttft, ${level.concurrency} streams`);
      expect(rows.map((x) => [x.target, x.ratio])).toEqual([
        ['direct', null],
        ['inkstone', Math.round((level.direct.p50 / level.inkstone.p50) * 1000) / 1000],
        ['bare relay (control)', Math.round((level.direct.p50 / level.relay!.p50) * 1000) / 1000],
      ]);
      expect(rows[2]!.goal).toBeUndefined();
      expect(rows[1]!.latency).toEqual(level.inkstone);
      expect(rows[1]!.pass).toBe(level.pass);
    }
    const generations = section.rows.filter((x) => x.group.startsWith('generations/s'));
    expect(generations.map((x) => [x.target, x.throughput, x.ratio])).toEqual([
      ['direct', throughput.directPerSecond, null],
      ['inkstone', throughput.inkstonePerSecond, throughput.ratio],
      ['openai door', throughput.openaiPerSecond, throughput.openaiRatio],
    ]);
    expect(section.notes.join(' ')).toMatch(/Coalescing: 5 identical requests → 1 model call/);
  });
});

describe('npm run bench:ai, interrupted', () => {
  it(
    'finishes the scenario under way, starts no other, and says so (Ctrl-C)',
    { timeout: 90_000 },
    async () => {
      const controller = new AbortController();
      const result = await runAiBench({
        ...TINY,
        signal: controller.signal,
        // As Ctrl-C would, while coalescing is measured.
        log: (line) => {
          if (line === 'coalescing') controller.abort();
        },
      });
      expect(result.interrupted).toBe(true);
      expect(result.ttft.length).toBeGreaterThan(0);
      expect(result.coalescing).toMatchObject({ requests: 5, modelCalls: 1 });
      expect(result.replay).toBeUndefined();
      expect(result.throughput).toBeUndefined();
      expect(result.jobs).toBeUndefined();
      expect(aiSection(result).notes[0]).toMatch(/^Interrupted \(Ctrl-C\)/);
      expect(formatReport(result)).toContain('Interrupted (Ctrl-C)');
    },
  );
});

describe('inkstone bench ai', () => {
  it(
    'runs bench/ai.ts from the source checkout: a bad option exits 2 naming it',
    { timeout: 60_000 },
    async () => {
      const bad = await promisify(execFile)(process.execPath, [
        '--import',
        'tsx',
        'src/cli/index.ts',
        'bench',
        'ai',
        '--protocol',
        'grpc',
      ]).catch((error: unknown) => error);
      expect(bad).toMatchObject({
        code: 2,
        stderr: expect.stringContaining('--protocol must be ollama or openai (got "grpc")'),
      });
    },
  );
});
