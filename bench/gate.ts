// npm run bench:gate [-- --rounds N] [--duration S] [--floors FILE] [--out DIR] [--no-pin]
//
// The CI performance gate (.ci/run runs it after the tests): a local Inkstone (NODE_ENV=
// production, seeded SQLite in a temp dir) and a bare node:http server sending the same bytes,
// started in the same run; wrk on one thread against each; each target's requests per second
// over the bare server's must stay at or above its floor in bench/gate-floors.json (which also
// says how to update the floors). Ratios, not times: the CI machine is shared and noisy.
// Prints the table, writes results.json (+ report.html, gate.json) and exits 1 when a target
// is below its floor, errs, or the bare server did not send Inkstone's bytes.
import { join } from 'node:path';
import { defaultOutDir, ratioResults, writeRatioRun } from '../src/bench/ratio.js';
import { loadAverage } from '../src/bench/stats.js';
import { ROOT } from './ai/children.js';
import { parseBenchArgs, positive, usageError } from './args.js';
import { gateSection, measureGate } from './gate/run.js';
import { type GateFloors, type GateTarget, judgeGate, readFloors } from './gate/verdict.js';
import { wrkProblem } from './pages/wrk.js';

const USAGE = `Usage: npm run bench:gate [-- options]

Fails (exit 1) when Inkstone's req/s over a bare node:http server's, measured in the same run,
drops below a floor of bench/gate-floors.json. Needs wrk.

  --rounds N        rounds; each target's median ratio is judged (default 3)
  --duration S      seconds per target per round (default 2)
  --connections N   wrk's connections (default 50)
  --floors FILE     the floors (default bench/gate-floors.json)
  --no-pin          do not pin wrk and the server to separate CPUs
  --out DIR         results.json, report.html and gate.json (default bench/results/gate-<date>/)`;

const values = parseBenchArgs(USAGE, {
  rounds: { type: 'string', default: '3' },
  duration: { type: 'string', default: '2' },
  connections: { type: 'string', default: '50' },
  floors: { type: 'string', default: join(ROOT, 'bench', 'gate-floors.json') },
  'no-pin': { type: 'boolean', default: false },
  out: { type: 'string' },
});

const problem = wrkProblem();
if (problem) {
  // A gate that cannot measure must not pass.
  console.error(`The performance gate cannot run: ${problem}`);
  process.exit(1);
}
let floors: GateFloors;
try {
  floors = readFloors(values.floors);
} catch (error) {
  usageError(USAGE, (error as Error).message);
}
const startedAt = new Date();
const loadAtStart = loadAverage();
const run = await measureGate({
  targets: Object.keys(floors.floors) as GateTarget[],
  rounds: positive(USAGE, '--rounds', values.rounds),
  durationS: positive(USAGE, '--duration', values.duration),
  warmupS: 1,
  connections: positive(USAGE, '--connections', values.connections),
  pin: !values['no-pin'],
  log: (line) => console.error(line),
});
const verdict = judgeGate(run.measured, floors);
const pass = verdict.pass && run.sameBytes;

const lines = [
  '',
  `Performance gate: Inkstone's req/s ÷ a bare node:http server's (${run.result.generator}, ${values.rounds} rounds, median round judged)`,
  `Load average ${loadAtStart.join(' ')} at the start, ${loadAverage().join(' ')} at the end`,
  '',
  `${'target'.padEnd(14)}${'floor'.padStart(7)}${'ratio'.padStart(8)}  ${'rounds'.padEnd(24)}${'errors'.padStart(7)}${'timeouts'.padStart(9)}  verdict`,
];
for (const row of verdict.rows)
  lines.push(
    `${row.target.padEnd(14)}${row.floor.toFixed(3).padStart(7)}${row.ratio.toFixed(3).padStart(8)}  ${row.ratios
      .map((x) => x.toFixed(3))
      .join(' ')
      .padEnd(
        24,
      )}${String(row.errors).padStart(7)}${String(row.timeouts).padStart(9)}  ${row.pass ? 'ok' : `FAIL: ${row.reason}`}`,
  );
if (!run.sameBytes)
  lines.push(
    "FAIL: the bare server did not send the bytes of Inkstone's home-page hit: the ratios mean nothing",
  );
lines.push('', pass ? 'Gate passed.' : `Gate FAILED (floors: ${values.floors}).`);
console.log(lines.join('\n'));

const results = await ratioResults({
  section: gateSection(run, verdict),
  startedAt: startedAt.toISOString(),
  loadAtStart,
  command: `npm run bench:gate -- ${process.argv.slice(2).join(' ')}`.trim(),
  url: 'local: Inkstone and a bare node:http server started by the gate',
});
const dir = values.out ?? defaultOutDir('gate', startedAt);
const written = await writeRatioRun(dir, results, {
  name: 'gate',
  value: { verdict, pass, pages: run.result },
});
console.log(`Written: ${written.join(', ')}`);
process.exitCode = pass ? 0 : 1;
