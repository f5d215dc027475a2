// `inkstone bench ai`: the AI benchmark of `npm run bench:ai` (bench/ai.ts), run from the
// source checkout with the same options (see src/bench/ratio.ts for why it is not compiled in).
import type { BenchCommand } from './cli.js';
import { runSourceBench } from './ratio.js';

export const command: BenchCommand = {
  summary: 'The AI pipeline against a fake model server, each path vs direct (source checkout)',
  run: (args) => runSourceBench('ai.ts', args),
};
