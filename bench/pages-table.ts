// npm run bench:pages:table -- FILE
//
// The README's "Where it stands" table from a page-benchmark run's pages.json (a kept sample in
// bench/samples/, or bench/results/pages-<date>/pages.json): each cell a median of the target's
// measurements, a missed goal in italics, and how many of the rows with goals met them.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { formatMarkdownTable, verdictOf } from './pages/markdown.js';
import type { PagesBenchResult } from './pages/run.js';

const USAGE = "Usage: npm run bench:pages:table -- FILE   (a page-benchmark run's pages.json)";

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { help: { type: 'boolean', short: 'h' } },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const [file] = positionals;
if (positionals.length !== 1 || file === undefined) {
  console.error(`one file, please (got ${positionals.length})\n\n${USAGE}`);
  process.exit(2);
}
let result: PagesBenchResult;
try {
  result = JSON.parse(readFileSync(file, 'utf8')) as PagesBenchResult;
} catch (error) {
  console.error(`cannot read ${file}: ${(error as Error).message}\n\n${USAGE}`);
  process.exit(2);
}
if (result?.bench !== 'pages') {
  console.error(
    `${file} is not a page-benchmark run ("bench": ${JSON.stringify(result?.bench)})\n\n${USAGE}`,
  );
  process.exit(2);
}
console.log(formatMarkdownTable(result));
console.log(`\n${verdictOf(result)}`);
