import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../bench/ai/children.js';
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
    const fromSrc = summary.top.filter((x) => x.where.startsWith('src/'));
    expect(fromSrc.length, JSON.stringify(summary.top)).toBeGreaterThan(0);
    // Put back on the TypeScript lines (tsx compiles each file to one line): a named function's
    // line in its file names it.
    const named = fromSrc.filter((x) => x.function !== '(anonymous)' && !x.function.startsWith('__'));
    expect(named.length, JSON.stringify(fromSrc)).toBeGreaterThan(0);
    for (const { function: name, where } of named) {
      const [, file, line] = /^(src\/.+\.ts):(\d+)$/.exec(where)!;
      const source = readFileSync(join(ROOT, file!), 'utf8').split('\n')[Number(line) - 1];
      expect(source, where).toContain(name.split('.').at(-1));
    }
    expect(summary.modules.some((x) => x.module.startsWith('src/'))).toBe(true);
    const percents = summary.modules.reduce((sum, x) => sum + x.percent, 0);
    expect(percents).toBeGreaterThan(50);
    expect(percents).toBeLessThanOrEqual(100.5);
  });
});
