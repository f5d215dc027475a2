import { describe, expect, it } from 'vitest';
import { formatSoak, runSoak } from '../../bench/pages/soak.js';
import { wrkProblem } from '../../bench/pages/wrk.js';

// `npm run bench:soak` end to end at a tiny size (12 s): the reader mix is found and served,
// the author's writes land, memory is sampled and judged. Not the memory verdict itself: a
// dozen seconds on a shared test machine says nothing about a ten-minute trend.
const CI = process.env.CI === 'true';
const problem = wrkProblem();

describe('npm run bench:soak', () => {
  it.skipIf(problem !== null && !CI)(
    'reads and writes for the duration and samples memory',
    { timeout: 90_000 },
    async () => {
      expect(problem).toBeNull();
      const result = await runSoak({
        durationS: 12,
        warmupS: 4,
        connections: 10,
        sampleEveryS: 3,
        log: () => {},
      });
      expect(result.paths).toEqual(expect.arrayContaining(['/', '/feed.xml', '/sitemap.xml']));
      expect(result.paths.some((x) => x.startsWith('/posts/'))).toBe(true);
      expect(result.reads.requests).toBeGreaterThan(0);
      const { connect, read, write } = result.reads.errors;
      expect(connect + read + write).toBe(0);
      expect(result.writes.posts).toBeGreaterThan(0);
      expect(result.writes.comments).toBeGreaterThan(0);
      expect(result.writes.failed, result.writes.firstFailure).toBe(0);
      expect(result.samples.length).toBeGreaterThanOrEqual(3);
      expect(result.samples.every((x) => x.rssMb > 10)).toBe(true);
      expect(result.growth).toBe(
        Math.round((result.rssMaxAfterWarmupMb / result.rssAfterWarmupMb) * 1000) / 1000,
      );
      expect(formatSoak(result)).toContain(`${result.rssAfterWarmupMb} MB`);
    },
  );
});
