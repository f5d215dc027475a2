// `inkstone bench report a.json [b.json…] [--out report.html] [--lang en|zh]`
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { BenchCommand } from '../cli.js';
import { FlagError, parseFlags, runParsed } from '../flags.js';
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

interface ReportOptions {
  files: string[];
  out: string;
  lang: Lang;
}

function options(args: string[]): ReportOptions | 'help' {
  const { values, switches, positionals } = parseFlags(args, {
    values: ['out', 'lang'],
    switches: ['help'],
    positionals: true,
  });
  if (switches.has('help')) return 'help';
  if (positionals.length === 0) throw new FlagError('inkstone bench report: give at least one results.json');
  const lang = values.get('lang');
  if (lang !== undefined && !LANGS.includes(lang as Lang))
    throw new FlagError(`inkstone bench report: --lang must be one of ${LANGS.join(', ')}, not "${lang}"`);
  return {
    files: positionals,
    out: values.get('out') ?? 'report.html',
    lang: (lang as Lang | undefined) ?? langFromEnv(),
  };
}

function run(args: string[]): Promise<number> {
  return runParsed(args, HELP, options, report);
}

async function report({ files, out: outFile, lang }: ReportOptions): Promise<number> {
  try {
    const results = files.map((file) => readResults(file));
    const out = resolve(outFile);
    writeFileSync(out, renderReport(results, { lang, sources: files }));
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
