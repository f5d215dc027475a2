// The ratio benchmarks (`inkstone bench pages`, `inkstone bench ai`, the CI gate): what they
// share with the other `inkstone bench` tests. Their results become a BenchResults with one
// RatioSection, written as results.json + report.html, so `bench report` and `bench compare`
// read them like any other run.
//
// They run from a source checkout only: they start Inkstone, a bare node:http server and a
// fake model server as TypeScript child processes through tsx, and drive wrk, from bench/
// (kept out of dist, which ships the blog). Moving them into src/ would put a fake model
// server and test seeding into the package for two developer commands; so the compiled CLI
// starts `node --import tsx bench/<name>.ts` when bench/ is there, and says so when it is not.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchResults, RatioSection } from './results.js';
import type { LoadAverage } from './stats.js';
import { buildResults, writeResults } from './write.js';

/** The repository root (src/bench/ and dist/bench/ are both two levels below it). */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Where a run writes when --out is not given: bench/results/<name>-<time>/. */
export function defaultOutDir(name: string, startedAt = new Date()): string {
  const stamp = startedAt.toISOString().replace(/:/g, '-').replace(/\..*/, '');
  return join(ROOT, 'bench', 'results', `${name}-${stamp}`);
}

/** A BenchResults of one RatioSection. Its url says what ran: the bench starts its own servers. */
export function ratioResults(run: {
  section: RatioSection;
  startedAt: string;
  loadAtStart: LoadAverage;
  command: string;
  url: string;
}): Promise<BenchResults> {
  return buildResults({ ...run, startedAt: new Date(run.startedAt), sections: [run.section] });
}

/**
 * Writes DIR/results.json and DIR/report.html as every `inkstone bench` test does, and the
 * bench's own full result as DIR/<name>.json (every figure it measured, beyond the schema's);
 * returns the paths written.
 */
export async function writeRatioRun(
  dir: string,
  results: BenchResults,
  raw?: { name: string; value: unknown },
): Promise<string[]> {
  const { json, html } = await writeResults(dir, results);
  const written = [json, html];
  if (raw) {
    const file = join(dirname(json), `${raw.name}.json`);
    await writeFile(file, `${JSON.stringify(raw.value, null, 2)}\n`);
    written.push(file);
  }
  return written;
}

/**
 * Runs bench/<script> from the source checkout with `args`, its output on this terminal;
 * resolves to its exit code. Ctrl-C reaches it too (same process group): it stops and writes
 * what it measured, and this process waits for it rather than dying first.
 */
export async function runSourceBench(script: string, args: string[]): Promise<number> {
  const entry = join(ROOT, 'bench', script);
  const tsx = join(ROOT, 'node_modules', 'tsx');
  if (!existsSync(entry) || !existsSync(tsx)) {
    console.error(
      `inkstone bench: this test runs from a source checkout of Inkstone (it needs ${existsSync(entry) ? 'tsx, a dev dependency: npm ci' : `bench/${script}`}). ` +
        'Clone the repository, run npm ci, then this command (or npm run bench) there.',
    );
    return 2;
  }
  const child = spawn(process.execPath, ['--import', 'tsx', entry, ...args], { cwd: ROOT, stdio: 'inherit' });
  const ignore = () => {};
  process.on('SIGINT', ignore);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
    });
  } finally {
    process.off('SIGINT', ignore);
  }
}
