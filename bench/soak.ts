// npm run bench:soak [-- --minutes 10] [--warmup-minutes 1] [--connections 100] [--out FILE]
//
// Memory under a long mixed load: one Inkstone (SQLite, page cache on, NODE_ENV=production),
// wrk's connections cycling through the home, post, tag, author, feed and search pages while
// an author writes through the API (a comment every 200 ms, a new post every 2 s, an edit every
// 5 s), each write invalidating cached pages. RSS is sampled every 10 s; the goal: after the
// warm-up, RSS stays within 10 % of what it was when the warm-up ended. Prints a table and
// writes bench/results/soak-<date>.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from './ai/children.js';
import { formatSoak, runSoak } from './pages/soak.js';
import { wrkProblem } from './pages/wrk.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    'warmup-minutes': { type: 'string', default: '1' },
    connections: { type: 'string', default: '100' },
    out: { type: 'string' },
  },
});

const problem = wrkProblem();
if (problem) {
  console.error(`SKIPPED the soak: ${problem}`);
  process.exit(0);
}
const result = await runSoak({
  durationS: Number(values.minutes) * 60,
  warmupS: Number(values['warmup-minutes']) * 60,
  connections: Number(values.connections),
  log: (line) => console.error(line),
});
console.log(formatSoak(result));
const stamp = new Date().toISOString().replace(/:/g, '-').replace(/\..*/, '');
const file = values.out ?? join(ROOT, 'bench', 'results', `soak-${stamp}.json`);
mkdirSync(dirname(file), { recursive: true });
writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
console.log(`\nWritten: ${file}`);
if (!result.pass) process.exitCode = 1;
