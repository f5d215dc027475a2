import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** What the fixture's child printed: the state of each literal-define slot of nextTick, and the kept task's key count. */
function feedbackAfterGc(keep: boolean): { slots: string[]; kept: string } {
  // Into a file: V8 writes %DebugPrint straight to the descriptor, and on a non-blocking pipe
  // whatever the reader has not taken yet is lost.
  const dir = mkdtempSync(join(tmpdir(), 'inkstone-next-tick-'));
  const file = join(dir, 'out.txt');
  const fd = openSync(file, 'w');
  let out: string;
  try {
    execFileSync(
      process.execPath,
      ['--allow-natives-syntax', '--expose-gc', '--import', 'tsx', 'test/fixtures/next-tick-feedback.ts'],
      {
        cwd: ROOT,
        env: { ...process.env, KEEP: keep ? '1' : '0' },
        stdio: ['ignore', fd, 'inherit'],
        timeout: 60_000,
      },
    );
    out = readFileSync(file, 'utf8');
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
  const slots = [...out.matchAll(/DefineKeyedOwnPropertyInLiteral (\w+)/g)].map((match) => match[1]!);
  return { slots, kept: /kept task keys: (\w+)/.exec(out)?.[1] ?? '?' };
}

// src/next-tick.ts says why. If the first case fails after a Node upgrade, V8 or Node no longer
// behave this way: measure nextTick after a GC again before deleting keepNextTickFast.
describe('keepNextTickFast', () => {
  it('without it, a full GC while no tick is queued leaves nextTick’s task literal megamorphic', () => {
    const { slots } = feedbackAfterGc(false);
    // The task literal's four keys after `{`: the two computed ones and callback and args.
    expect(slots).toHaveLength(4);
    expect(slots).toContain('MEGAMORPHIC');
  });

  it('with it, the task literal stays monomorphic through the GC', () => {
    const { slots, kept } = feedbackAfterGc(true);
    expect(slots).toEqual(['MONOMORPHIC', 'MONOMORPHIC', 'MONOMORPHIC', 'MONOMORPHIC']);
    expect(kept).toBe('4');
  });
});
