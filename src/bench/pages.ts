// `inkstone bench pages`: the page benchmark of `npm run bench:pages` (bench/pages.ts), run
// from the source checkout with the same options (see src/bench/ratio.ts for why it is not
// compiled in).
import type { BenchCommand } from './cli.js';
import { runSourceBench } from './ratio.js';

export const command: BenchCommand = {
  summary: "Inkstone's pages under wrk against a bare node:http server of the same run (source checkout)",
  run: (args) => runSourceBench('pages.ts', args),
};
