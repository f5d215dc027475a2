import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../bench/ai/children.js';
import { summarizeProfile } from '../../bench/ai/profile.js';
import { checkTarget, runProfile } from '../../bench/profile/run.js';

// `npm run profile` end to end, short: Inkstone under load with --cpu-prof, its main thread's
// profile kept and summarised. Runs with wrk when installed, with fetch loops otherwise.
const dir = mkdtempSync(join(tmpdir(), 'inkstone-profile-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string } }[];
  samples: number[];
  timeDeltas: number[];
}

describe('npm run profile', () => {
  it('refuses an unknown target, naming the option', () => {
    expect(checkTarget('homepage')).toMatch(/^--target must be one of home, post/);
    expect(checkTarget('/tags/welcome')).toBeNull();
    expect(checkTarget('api')).toBeNull();
  });

  it('writes a .cpuprofile of Inkstone under load and names its functions', { timeout: 90_000 }, async () => {
    const out = join(dir, 'nested', 'api.cpuprofile');
    const run = await runProfile({
      target: 'api',
      durationS: 2,
      warmupS: 1,
      connections: 4,
      out,
      pin: false,
      log: () => {},
    });
    expect(run.file).toBe(out);
    expect(run.path).toBe('/api/v1/posts');
    expect(run.requests).toBeGreaterThan(0);
    expect(run.errors).toBe(0);

    const profile = JSON.parse(readFileSync(out, 'utf8')) as CpuProfile;
    expect(profile.nodes.length).toBeGreaterThan(10);
    expect(profile.samples.length).toBeGreaterThan(10);
    expect(profile.timeDeltas).toHaveLength(profile.samples.length);
    // The profile is Inkstone's: its own source files are in it.
    expect(profile.nodes.some((x) => x.callFrame.url.includes('/src/modules/posts/'))).toBe(true);

    const { summary } = run;
    expect(summary.busyMs).toBeGreaterThan(0);
    expect(summary.windowMs).toBeGreaterThan(1000);
    expect(summary.top.length).toBeGreaterThan(0);
    // Put back on the TypeScript lines (tsx compiles each file to one line): a named function's
    // line in its file names it. Checked over every sampled function of src/, not only the top
    // few, which in a 2 s run may all be closures.
    const all = summarizeProfile(out, [-Infinity, Infinity], Infinity).top;
    const named = all.filter(
      // V8's own names (`<instance_members_initializer>`) and esbuild's helpers (`__name`) are left out.
      (x) => x.where.startsWith('src/') && !/^[(<]|^__/.test(x.function),
    );
    expect(named.length, JSON.stringify(all)).toBeGreaterThan(0);
    const misplaced = named.filter(({ function: name, where }) => {
      const [, file, line] = /^(src\/.+\.ts):(\d+)$/.exec(where)!;
      // The line itself, and the three before it for a function that is an argument on its own
      // line (V8 names the third argument of `this.queries.get('tags', …)` "queries.get.tags").
      const source = readFileSync(join(ROOT, file!), 'utf8')
        .split('\n')
        .slice(Math.max(0, Number(line) - 4), Number(line))
        .join('\n');
      // A class's constructor is sampled under the class's name, on the `constructor(` line;
      // a name V8 inferred (`fp.name` for a function passed to `fp(…)`) shows one of its parts.
      return !name.split('.').some((part) => source.includes(part)) && !source.includes('constructor(');
    });
    expect(misplaced).toEqual([]);
    expect(summary.modules.some((x) => x.module.startsWith('src/'))).toBe(true);
    const percents = summary.modules.reduce((sum, x) => sum + x.percent, 0);
    expect(percents).toBeGreaterThan(50);
    expect(percents).toBeLessThanOrEqual(100.5);
  });
});
