// npm run bench:ai [-- --protocol openai] [--no-pin] [--quick] [--profile] [--out FILE]
//                   [--inkstone-node-args="--trace-gc …"]
//
// The AI pipeline against the fake model server (a simulator with fixed timings): time to
// first token through Inkstone vs direct, and through its OpenAI door; throughput at the
// model's capacity, 1,000 concurrent streams and their memory, coalescing, cache replay;
// generation jobs on the in-process queue vs BullMQ; two instances on one Redis and one
// PostgreSQL (REDIS_URL, DATABASE_URL=postgres://… or the test defaults; skipped, with the
// reason, when unreachable). Prints a table (progress goes to stderr) and writes
// bench/results/ai-<date>.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { format, resolveConfig } from 'prettier';
import { ROOT } from './ai/children.js';
import { type AiBenchOptions, FULL } from './ai/options.js';
import { formatReport } from './ai/report.js';
import { runAiBench } from './ai/run.js';

const { values } = parseArgs({
  options: {
    protocol: { type: 'string', default: 'ollama' },
    'no-pin': { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    out: { type: 'string' },
    'inkstone-node-args': { type: 'string' },
  },
});
const protocol = values.protocol;
if (protocol !== 'ollama' && protocol !== 'openai') {
  console.error(`--protocol must be ollama or openai (got "${protocol}")`);
  process.exit(2);
}

const stamp = new Date().toISOString().replace(/:/g, '-').replace(/\..*/, '');
const results = join(ROOT, 'bench', 'results');
const options: AiBenchOptions = {
  ...FULL,
  protocol,
  pin: !values['no-pin'],
  inkstoneNodeArgs: values['inkstone-node-args']?.split(' ').filter(Boolean),
  ...(values.profile ? { profileDir: join(results, 'profiles') } : {}),
};
if (values.quick) {
  // A smoke run in about half a minute: fewer samples, shorter windows, same timings.
  options.ttft = {
    ...options.ttft,
    rounds: 2,
    levels: options.ttft.levels.map((l) => ({ ...l, samples: l.samples / 5 })),
  };
  options.throughput = { ...options.throughput, rounds: 1, windowMs: 4000 };
  options.replay = { ...options.replay, repeats: 100 };
  options.doors = { ...options.doors, samples: options.doors.samples / 5, rounds: 2 };
  options.jobs = { ...options.jobs, sequential: 10, burst: 100 };
  options.instances = { ...options.instances, windowMs: 4000, rounds: 1 };
}

const result = await runAiBench(options);
console.log(formatReport(result));
const file = values.out ?? join(results, `ai-${values.profile ? 'profile-' : ''}${stamp}.json`);
mkdirSync(dirname(file), { recursive: true });
// Formatted as the repository formats JSON, so `prettier --check .` stays clean after a run
// (it reads the root .gitignore, not bench/.gitignore).
const json = await format(JSON.stringify(result), { ...(await resolveConfig(file)), parser: 'json' });
writeFileSync(file, json);
console.log(`\nWritten: ${file}`);
