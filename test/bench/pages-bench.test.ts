import { describe, expect, it } from 'vitest';
import { formatReport } from '../../bench/pages/report.js';
import { runPagesBench } from '../../bench/pages/run.js';
import { wrkProblem } from '../../bench/pages/wrk.js';

// `npm run bench:pages` end to end at a tiny size (1 s per target, SQLite only): the children
// start, wrk runs and its numbers are read, the bare server sends Inkstone's bytes. Not its
// timings: a shared test machine says nothing about them. wrk missing fails only under CI=true
// (.ci/run installs it).
const CI = process.env.CI === 'true';
const problem = wrkProblem();

describe('npm run bench:pages', () => {
  it.skipIf(problem !== null && !CI)(
    'measures every target against the bare server',
    { timeout: 180_000 },
    async () => {
      expect(problem).toBeNull();
      const result = await runPagesBench({
        databases: ['sqlite'],
        connections: 10,
        clusterWorkers: 2,
        threads: 1,
        durationS: 1,
        warmupS: 1,
        timeoutS: 5,
        pin: false,
        postgresUrl: '',
        log: () => {},
      });
      const [run] = result.runs;
      expect(run?.baselineSameBytes).toBe(true);
      expect(run?.targets.map((x) => x.target)).toEqual([
        'baseline',
        'home',
        'busy-baseline',
        'post',
        'api',
        'home-cached',
        'post-cached',
        'home-signed-in',
        'home-cached-w1',
        'post-cached-w1',
        'bare-cluster',
        'home-cached-wauto',
        'post-cached-wauto',
      ]);
      for (const target of run?.targets ?? []) {
        expect(target.probe.status, target.target).toBe(200);
        expect(target.wrk.requests, target.target).toBeGreaterThan(0);
        const { connect, read, write, status } = target.wrk.errors;
        expect(connect + read + write + status, target.target).toBe(0);
        // An anonymous reader's pages and the API set no cookie.
        if (target.target !== 'home-signed-in') expect(target.probe.setCookie, target.target).toEqual([]);
      }
      // Inkstone's home page is the bytes the baseline sends: the same size on the wire, give or
      // take its own headers (request id, date).
      const size = (name: string) => run!.targets.find((x) => x.target === name)!.wrk.bytesPerResponse;
      expect(Math.abs(size('home') - size('baseline'))).toBeLessThan(300);
      expect(formatReport(result)).toContain('home-signed-in');
      // The signed-in home page is the author's own: larger than the anonymous one (their menu).
      expect(size('home-signed-in')).toBeGreaterThan(size('home'));
    },
  );
});
