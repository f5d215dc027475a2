// Where a run ends: results.json (schema inkstone-bench/1) and, when the report module is
// there, report.html beside it.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RESULTS_SCHEMA, type BenchResults, type Section } from './results.js';
import { type LoadAverage, machineInfo } from './stats.js';

/** Inkstone's own version, from package.json (two levels up from src/bench and dist/bench). */
export async function inkstoneVersion(): Promise<string> {
  const file = fileURLToPath(new URL('../../package.json', import.meta.url));
  try {
    return (JSON.parse(await readFile(file, 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export async function buildResults(options: {
  startedAt: Date;
  url: URL;
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
    url: options.url.href.replace(/\/$/, ''),
    command: options.command,
    machine: machineInfo(options.loadAtStart),
    sections: options.sections,
  };
}

type RenderReport = (results: BenchResults[]) => string;

/** The report helper's renderReport, or undefined while src/bench/report/index.ts does not exist. */
async function loadRenderer(): Promise<RenderReport | undefined> {
  // A variable, not a literal: the module may not exist yet, and the type checker must not
  // require it. Its absence is the only failure this hides.
  const path = './report/index.js';
  try {
    const module = (await import(path)) as { renderReport?: RenderReport };
    return typeof module.renderReport === 'function' ? module.renderReport : undefined;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'ERR_UNKNOWN_FILE_EXTENSION') return undefined;
    throw error;
  }
}

/** Writes results.json (and report.html when it can) into dir; returns the paths written. */
export async function writeResults(
  dir: string,
  results: BenchResults,
): Promise<{ json: string; html?: string }> {
  const out = resolve(dir);
  await mkdir(out, { recursive: true });
  const json = join(out, 'results.json');
  await writeFile(json, `${JSON.stringify(results, null, 2)}\n`);
  const render = await loadRenderer();
  if (!render) return { json };
  const html = join(out, 'report.html');
  await writeFile(html, render([results]));
  return { json, html };
}

/** The closing lines every command prints (stdout): where the files are. */
export function printWritten(paths: { json: string; html?: string }, interrupted: boolean): void {
  console.log(`${interrupted ? 'Interrupted; partial results' : 'Results'}: ${paths.json}`);
  if (paths.html) console.log(`Report: ${paths.html}`);
  else console.log('(No HTML report: the report module is not installed in this build.)');
}
