// Where a run ends: results.json (schema inkstone-bench/1) and report.html beside it.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultOutDir } from './flags.js';
import { renderReport } from './report/index.js';
import {
  type BenchResults,
  type CacheSection,
  type ConcurrencySection,
  type LoadSection,
  RESULTS_SCHEMA,
  type Section,
} from './results.js';
import { type LoadAverage, machineInfo } from './stats.js';

/** Inkstone's own version, from package.json (two levels up from src/bench and dist/bench). */
async function inkstoneVersion(): Promise<string> {
  const file = fileURLToPath(new URL('../../package.json', import.meta.url));
  try {
    return (JSON.parse(await readFile(file, 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * A run's results file. `url`: the target measured (a trailing slash dropped), or, for a bench
 * that starts its own servers, a sentence saying what ran.
 */
export async function buildResults(options: {
  startedAt: Date;
  url: URL | string;
  command: string;
  loadAtStart: LoadAverage;
  sections: Section[];
  targetVersion?: string;
}): Promise<BenchResults> {
  return {
    schema: RESULTS_SCHEMA,
    startedAt: options.startedAt.toISOString(),
    inkstoneVersion: await inkstoneVersion(),
    ...(options.targetVersion ? { targetVersion: options.targetVersion } : {}),
    url: typeof options.url === 'string' ? options.url : options.url.href.replace(/\/$/, ''),
    command: options.command,
    machine: machineInfo(options.loadAtStart),
    sections: options.sections,
  };
}

/** Writes results.json (and report.html when it can) into dir; returns the paths written. */
export async function writeResults(
  dir: string,
  results: BenchResults,
): Promise<{ json: string; html: string }> {
  const out = resolve(dir);
  await mkdir(out, { recursive: true });
  const json = join(out, 'results.json');
  await writeFile(json, `${JSON.stringify(results, null, 2)}\n`);
  const html = join(out, 'report.html');
  await writeFile(html, renderReport([results]));
  return { json, html };
}

/**
 * The end of a load, cache or concurrency run: results.json and report.html written to `out`
 * (default bench-results/<time>/), where they are printed; the exit code, 130 after Ctrl-C.
 */
export async function finishRun(options: {
  startedAt: Date;
  url: URL;
  command: string;
  loadAtStart: LoadAverage;
  section: LoadSection | CacheSection | ConcurrencySection;
  out: string | undefined;
}): Promise<number> {
  const { section } = options;
  const results = await buildResults({ ...options, sections: [section] });
  const paths = await writeResults(options.out ?? defaultOutDir(options.startedAt), results);
  printWritten(paths, section.interrupted);
  return section.interrupted ? 130 : 0;
}

/** The closing lines every command prints (stdout): where the files are. */
function printWritten(paths: { json: string; html: string }, interrupted: boolean): void {
  console.log(`${interrupted ? 'Interrupted; partial results' : 'Results'}: ${paths.json}`);
  console.log(`Report: ${paths.html}`);
}
