// npm run bench:ai [-- --protocol openai] [--no-pin] [--quick] [--only replay,…] [--profile] [--out DIR]
//                   [--inkstone-node-args="--trace-gc …"]
// (also `inkstone bench ai …`, which runs this file from the source checkout)
//
// The AI pipeline against the fake model server (a simulator with fixed timings): time to
// first token through Inkstone vs direct (and vs a bare relay on Inkstone's CPU, the control),
// and through its OpenAI door; throughput at the model's capacity, 1,000 concurrent streams
// and their memory, coalescing, cache replay; generation jobs on the in-process queue vs
// BullMQ; two instances on one Redis and one
// PostgreSQL (REDIS_URL, DATABASE_URL=postgres://… or the test defaults; skipped, with the
// reason, when unreachable). Prints a table (progress goes to stderr) and writes results.json
// (the inkstone-bench/1 schema), report.html and ai.json (every figure) to --out DIR (default
// bench/results/ai-<date>/).
import { join } from 'node:path';
import { defaultOutDir, ratioResults, writeRatioRun } from '../src/bench/ratio.js';
import { onInterrupt } from '../src/bench/progress.js';
import { loadAverage } from '../src/bench/stats.js';
import { parseBenchArgs, usageError } from './args.js';
import { ROOT } from './ai/children.js';
import { type AiBenchOptions, FULL, type Scenario, SCENARIOS } from './ai/options.js';
import { aiSection } from './ai/ratio.js';
import { formatReport } from './ai/report.js';
import { runAiBench } from './ai/run.js';

const USAGE = `Usage: inkstone bench ai [options]   (or: npm run bench:ai -- [options])

The AI pipeline against the fake model server (fixed timings), each path against going
straight to the model in the same run: time to first token (with a bare relay as the
control), throughput at the model's capacity, 1,000 streams, coalescing, cache replay, jobs,
two instances (with Redis and PostgreSQL). Runs from a source checkout.

  --protocol ollama|openai     the fake model's protocol (default ollama)
  --quick                      a smoke run of about half a minute
  --only a,b                   only these scenarios: ${SCENARIOS.join(', ')}
  --no-pin                     do not pin the processes to separate CPUs
  --profile                    Inkstone under the V8 CPU profiler at the busiest level
  --inkstone-node-args "…"     more node flags for Inkstone (--trace-gc …)
  --out DIR                    results.json, report.html and ai.json (default bench/results/ai-<date>/)`;

const values = parseBenchArgs(USAGE, {
  protocol: { type: 'string', default: 'ollama' },
  'no-pin': { type: 'boolean', default: false },
  quick: { type: 'boolean', default: false },
  profile: { type: 'boolean', default: false },
  out: { type: 'string' },
  'inkstone-node-args': { type: 'string' },
  only: { type: 'string' },
});
const only = values.only?.split(',').map((x) => x.trim());
const unknown = only?.find((x) => !(SCENARIOS as readonly string[]).includes(x));
if (unknown !== undefined) usageError(USAGE, `--only: no scenario "${unknown}"; use ${SCENARIOS.join(', ')}`);
const protocol = values.protocol;
if (protocol !== 'ollama' && protocol !== 'openai')
  usageError(USAGE, `--protocol must be ollama or openai (got "${protocol}")`);

const loadAtStart = loadAverage();
const results = join(ROOT, 'bench', 'results');
const options: AiBenchOptions = {
  ...FULL,
  protocol,
  pin: !values['no-pin'],
  ...(only ? { only: only as Scenario[] } : {}),
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
  options.replay = { ...options.replay, repeats: 200, rounds: 2 };
  options.doors = { ...options.doors, samples: options.doors.samples / 5, rounds: 2 };
  options.jobs = { ...options.jobs, sequential: 10, burst: 100 };
  options.instances = { ...options.instances, windowMs: 4000, rounds: 1 };
}

// Ctrl-C: the scenario under way finishes, no other starts, and what was measured is written;
// a second Ctrl-C quits at once.
const controller = new AbortController();
const interrupt = onInterrupt(controller);
const result = await runAiBench({ ...options, signal: controller.signal });
interrupt.dispose();
console.log(formatReport(result));
const dir = values.out ?? defaultOutDir(values.profile ? 'ai-profile' : 'ai', new Date(result.startedAt));
const benchResults = await ratioResults({
  section: aiSection(result),
  startedAt: result.startedAt,
  loadAtStart,
  command: `inkstone bench ai ${process.argv.slice(2).join(' ')}`.trim(),
  url: 'local: Inkstone and the fake model server started by the bench',
});
const written = await writeRatioRun(dir, benchResults, { name: 'ai', value: result });
console.log(`\nWritten: ${written.join(', ')}`);
if (result.interrupted) process.exitCode = 130;
