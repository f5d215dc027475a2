import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { canPin } from '../../bench/ai/children.js';

// The page bench pins itself (and wrk) to CPU 0 and the server under test to CPU 1; the
// clusters (`--workers auto` and the bare cluster it is measured against) are meant to spread
// over every CPU. A child inherits its parent's affinity, so they once ran on CPU 0 alone,
// beside wrk. Needs Linux's taskset and two CPUs (CI has both).
const CI = process.env.CI === 'true';
const usable = canPin() && availableParallelism() >= 2;

describe('bench children and CPU pinning', () => {
  it.skipIf(!usable && !CI)(
    'an unpinned child gets back the CPUs the bench had before pinning itself',
    () => {
      expect(usable).toBe(true);
      const out = execFileSync(
        process.execPath,
        ['--import', 'tsx', 'test/fixtures/bench/affinity-probe.ts'],
        {
          encoding: 'utf8',
        },
      );
      const seen = JSON.parse(out) as { before: string; pinned: string; child: string; pinnedChild: string };
      expect(seen.pinned).toBe('0');
      expect(seen.before).not.toBe('0');
      expect(seen.child).toBe(seen.before);
      expect(seen.pinnedChild).toBe('1');
    },
  );
});
