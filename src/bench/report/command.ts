// `inkstone bench report a.json [b.json…] [--out report.html] [--lang en|zh]`
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { BenchCommand } from '../cli.js';
import { readResults, ResultsFileError } from '../read-results.js';
import { langFromEnv, type Lang, LANGS } from './i18n.js';
import { renderReport } from './index.js';

const HELP = `Usage: inkstone bench report <results.json> [more.json…] [--out report.html] [--lang en|zh]

Renders saved bench results (results.json, as every inkstone bench run writes) into one HTML
file that opens without a network: a summary of each run, then a tab per test with charts and
the same numbers in tables. Several files give one report with a tab per test of each run.

  --out FILE     where to write the report (default: report.html)
  --lang en|zh   the labels' language (default: from LC_ALL, LC_MESSAGES or LANG; zh_* is Chinese)

Exit codes: 0 written; 2 a file is missing, not JSON or not inkstone-bench/1 (the message names
the field).`;

async function run(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        out: { type: 'string', default: 'report.html' },
        lang: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    console.error(`inkstone bench report: ${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length === 0) {
    console.error(`inkstone bench report: give at least one results.json\n\n${HELP}`);
    return 2;
  }
  if (values.lang !== undefined && !LANGS.includes(values.lang as Lang)) {
    console.error(`inkstone bench report: --lang must be one of ${LANGS.join(', ')}, not "${values.lang}"`);
    return 2;
  }
  const lang = (values.lang as Lang | undefined) ?? langFromEnv();
  try {
    const results = positionals.map((file) => readResults(file));
    const out = resolve(values.out);
    writeFileSync(out, renderReport(results, { lang, sources: positionals }));
    const sections = results.reduce((sum, r) => sum + r.sections.length, 0);
    console.log(
      `Wrote ${out} (${results.length} run${results.length === 1 ? '' : 's'}, ${sections} test${sections === 1 ? '' : 's'})`,
    );
    return 0;
  } catch (error) {
    if (error instanceof ResultsFileError) {
      console.error(`inkstone bench report: ${error.message}`);
      return 2;
    }
    throw error;
  }
}

export const command: BenchCommand = {
  summary: 'render saved results.json files into one self-contained HTML report',
  run,
};
