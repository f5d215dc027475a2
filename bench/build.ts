// The benches measure Inkstone as `inkstone serve` runs it: the compiled dist/ (what `npm ci`
// builds), not src/ through tsx. tsx compiles with esbuild's keepNames, which wraps every
// function expression in a call that defines its `name`: each closure made per request or per
// token then carries a property array of its own (a heap snapshot at 100 streams held ~1,700
// of them), which the code users run does not pay.
//
// dist/ is rebuilt when src/ changed since it was built (a hash of the sources is stamped in
// it), under a lock, so that bench runs started at once (the test suite's) build it once.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

export const DIST = join(ROOT, 'dist');
const STAMP = join(DIST, '.source-hash');
const LOCK = join(ROOT, 'node_modules', '.inkstone-build.lock');
/** A lock older than this was left by a build that died: tsc takes ~10–30 s here. */
const STALE_LOCK_MS = 180_000;

/** What dist/ is compiled from: every file under src/ and the two configs, by path and content. */
function sourceHash(): string {
  const hash = createHash('sha256');
  const files = readdirSync(join(ROOT, 'src'), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
  for (const file of [...files, join(ROOT, 'tsconfig.json'), join(ROOT, 'tsconfig.build.json')]) {
    hash.update(file.slice(ROOT.length)).update('\0').update(readFileSync(file)).update('\0');
  }
  return hash.digest('hex');
}

function stamped(): string | undefined {
  try {
    return readFileSync(STAMP, 'utf8');
  } catch {
    return undefined;
  }
}

async function lock(): Promise<void> {
  for (;;) {
    try {
      mkdirSync(LOCK);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const held = statSync(LOCK, { throwIfNoEntry: false });
      if (held && Date.now() - held.mtimeMs > STALE_LOCK_MS) rmSync(LOCK, { recursive: true, force: true });
      else await sleep(250);
    }
  }
}

let built: Promise<void> | undefined;

/** Builds dist/ from src/ unless it is already built from these sources; once per process. */
export function buildInkstone(log: (line: string) => void = () => {}): Promise<void> {
  built ??= (async () => {
    const hash = sourceHash();
    if (stamped() === hash) return;
    await lock();
    try {
      // Another bench may have built it while this one waited.
      if (stamped() === hash) return;
      log('compiling Inkstone into dist/ (tsc -p tsconfig.build.json), as `npm ci` does');
      execFileSync(
        process.execPath,
        [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
        {
          cwd: ROOT,
          stdio: ['ignore', 'inherit', 'inherit'],
        },
      );
      writeFileSync(STAMP, hash);
    } finally {
      rmSync(LOCK, { recursive: true, force: true });
    }
  })();
  return built;
}
