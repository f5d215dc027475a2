import { describe, expect, it } from 'vitest';
import { TINY } from '../../bench/ai/options.js';
import { formatReport } from '../../bench/ai/report.js';
import { runAiBench } from '../../bench/ai/run.js';

// The benchmark's every scenario at a tiny size (a few streams of 5 tokens), with the real
// child processes: proves `npm run bench:ai` runs end to end and that its checks can fail.
// Not its numbers: timings on a shared test machine say nothing.
describe('npm run bench:ai', () => {
  it('runs every scenario and reports each against its target', async () => {
    const result = await runAiBench(TINY);

    expect(result.ttft.map((x) => x.concurrency)).toEqual([1, 2]);
    for (const level of result.ttft) {
      expect(level.errors.direct.count + level.errors.inkstone.count).toBe(0);
      expect(level.direct.n).toBeGreaterThanOrEqual(TINY.ttft.levels[0]!.samples);
      expect(level.inkstone.n).toBe(level.direct.n);
      expect(level.inkstone.p50).toBeGreaterThan(0);
      // The fake's record of each request was matched with the client's.
      expect(level.legs.inkstone.model.p50).toBeGreaterThan(0);
      expect(level.legs.direct.toModel.p50).toBeGreaterThan(0);
    }
    expect(result.coalescing).toMatchObject({ requests: 5, modelCalls: 1, complete: 5, tokensEach: [5] });
    expect(result.replay).toMatchObject({ allCached: true, modelCalls: 0 });
    expect(result.replay!.ttft.n).toBe(3);
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

    const report = formatReport(result);
    expect(report).toContain('Time to first token');
    expect(report).toContain('Load average');
    expect(report).toMatch(/Coalescing: 5 identical concurrent requests\s+1 model call/);
  });
});
