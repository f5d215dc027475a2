import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../bench/ai/children.js';
import { gateSection, measureGate } from '../../bench/gate/run.js';
import { GATE_TARGETS, judgeGate, parseFloors, readFloors } from '../../bench/gate/verdict.js';
import { median } from '../../src/bench/stats.js';
import { wrkProblem } from '../../bench/pages/wrk.js';

// The CI gate: its floors file, and its verdict on ratios measured by a real (tiny) run of
// Inkstone and the bare server under wrk, judged against floors just under and just over
// what was measured. Not the numbers themselves: a shared machine says nothing about them.
const CI = process.env.CI === 'true';
const problem = wrkProblem();

describe('the gate floors file', () => {
  it('parses: a ratio in (0, 1] for gate targets only', () => {
    const { floors } = readFloors(join(ROOT, 'bench', 'gate-floors.json'));
    const entries = Object.entries(floors);
    expect(entries.length).toBeGreaterThan(0);
    for (const [target, floor] of entries) {
      expect(GATE_TARGETS).toContain(target);
      expect(floor).toBeGreaterThan(0);
      expect(floor).toBeLessThanOrEqual(1);
    }
  });

  it('names the bad field', () => {
    expect(() => parseFloors({ floors: { 'home-cached': 1.5 } }, 'f.json')).toThrow(
      /f\.json: floors\.home-cached must be a ratio > 0 and ≤ 1 \(got 1\.5\)/,
    );
    expect(() => parseFloors({ floors: { homepage: 0.5 } })).toThrow(/floors\.homepage: not a gate target/);
    expect(() => parseFloors({ floors: {} })).toThrow(/"floors" names no target/);
    expect(() => parseFloors([])).toThrow(/"floors" must be an object/);
  });
});

describe('the gate verdict', () => {
  it('judges the median round, a real round of its own', () => {
    expect(median([0.3, 0.1, 0.2])).toBe(0.2);
    expect(median([0.4, 0.1, 0.3, 0.2])).toBe(0.2);
    // A tail, where more is worse: of an even count the upper middle one.
    expect(median([0.4, 0.1, 0.3, 0.2], 'upper')).toBe(0.3);
    expect(median([0.3, 0.1, 0.2], 'upper')).toBe(0.2);
  });

  it('fails a target not measured', () => {
    const verdict = judgeGate([], { floors: { api: 0.1 } });
    expect(verdict.pass).toBe(false);
    expect(verdict.rows[0]).toMatchObject({ target: 'api', pass: false, reason: 'not measured' });
  });

  it.skipIf(problem !== null && !CI)(
    'passes above the floors and fails below them, on ratios of a real run',
    { timeout: 120_000 },
    async () => {
      expect(problem).toBeNull();
      const lines: string[] = [];
      const run = await measureGate({
        targets: ['home-cached', 'api'],
        rounds: 2,
        durationS: 1,
        warmupS: 1,
        connections: 5,
        pin: false,
        log: (line) => lines.push(line),
      });
      expect(run.sameBytes).toBe(true);
      // Every round warms each target up again: its server sat idle while the others ran.
      for (const target of ['baseline', 'home-cached', 'api'])
        expect(
          lines.filter((x) => x.startsWith(`  ${target}: warm-up`)),
          target,
        ).toHaveLength(2);
      expect(run.measured.map((x) => x.target)).toEqual(['home-cached', 'api']);
      for (const x of run.measured) {
        expect(x.ratios, x.target).toHaveLength(2);
        expect(x.requests, x.target).toBeGreaterThan(0);
        expect(x.errors, x.target).toBe(0);
        for (const ratio of x.ratios) expect(ratio, x.target).toBeGreaterThan(0);
      }
      const judged = (target: string) => median(run.measured.find((x) => x.target === target)!.ratios);
      const floorsAt = (factor: number) => ({
        floors: { 'home-cached': judged('home-cached') * factor, api: judged('api') * factor },
      });

      const above = judgeGate(run.measured, floorsAt(0.9));
      expect(above.pass).toBe(true);
      expect(above.rows.map((x) => x.ratio)).toEqual([judged('home-cached'), judged('api')]);

      const below = judgeGate(run.measured, floorsAt(1.1));
      expect(below.pass).toBe(false);
      for (const row of below.rows) expect(row.reason).toMatch(new RegExp(`^ratio ${row.ratio} < floor`));

      // One target under its floor is enough to fail.
      const one = judgeGate(run.measured, {
        floors: { 'home-cached': judged('home-cached') * 0.9, api: judged('api') * 1.1 },
      });
      expect(one.pass).toBe(false);
      expect(one.rows.map((x) => x.pass)).toEqual([true, false]);

      // As results.json carries it: the judged round's row with its floor.
      const section = gateSection(run, below);
      expect(section).toMatchObject({ kind: 'ratio', bench: 'gate' });
      const api = section.rows.find((x) => x.target === 'api')!;
      expect(api).toMatchObject({ ratio: judged('api'), pass: false });
      expect(api.goal).toContain('floor');
      expect(section.rows.filter((x) => x.target === 'baseline')).toHaveLength(1);
    },
  );
});
