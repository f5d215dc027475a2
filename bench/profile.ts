// npm run profile [-- --target home|post|api|home-cached|post-cached|home-signed-in|/path] [--duration S]
//                 [--connections N] [--out FILE.cpuprofile] [--no-pin]
//
// Inkstone under load with the V8 CPU profiler: writes a .cpuprofile (open it in Chrome
// DevTools, Performance → Load profile, or drop it on https://www.speedscope.app) and prints
// where the time went: self time by module and the top functions with their file:line.
import { join } from 'node:path';
import { formatProfile } from './ai/profile.js';
import { ROOT } from './ai/children.js';
import { parseBenchArgs, positive, usageError } from './args.js';
import { checkTarget, PROFILE_TARGETS, runProfile } from './profile/run.js';

const USAGE = `Usage: npm run profile [-- options]

Starts Inkstone (NODE_ENV=production, seeded SQLite) under node --cpu-prof, loads one page
with wrk (or fetch loops without wrk), writes the main thread's .cpuprofile and prints the
top functions by self time and the share of each module.

  --target T        ${PROFILE_TARGETS.join(', ')}, or a path such as /tags/welcome (default home)
  --duration S      seconds profiled under load (default 10), after a 2 s warm-up
  --connections N   concurrent connections (default 50)
  --out FILE        the .cpuprofile (default bench/results/profile-<target>-<date>.cpuprofile)
  --no-pin          do not pin the load generator and Inkstone to separate CPUs`;

const values = parseBenchArgs(USAGE, {
  target: { type: 'string', default: 'home' },
  duration: { type: 'string', default: '10' },
  connections: { type: 'string', default: '50' },
  out: { type: 'string' },
  'no-pin': { type: 'boolean', default: false },
});
const problem = checkTarget(values.target);
if (problem) usageError(USAGE, problem);

const stamp = new Date().toISOString().replace(/:/g, '-').replace(/\..*/, '');
const name = values.target.replace(/[^a-z0-9-]+/gi, '-').replace(/^-+|-+$/g, '') || 'path';
const run = await runProfile({
  target: values.target,
  durationS: positive(USAGE, '--duration', values.duration),
  warmupS: 2,
  connections: positive(USAGE, '--connections', values.connections),
  out: values.out ?? join(ROOT, 'bench', 'results', `profile-${name}-${stamp}.cpuprofile`),
  pin: !values['no-pin'],
  log: (line) => console.error(line),
});
const s = run.summary;
console.log(
  [
    `GET ${run.path} (${run.target}): ${run.requestsPerSecond} req/s, ${run.requests} requests, ${run.errors} errors; ${run.loader}`,
    `CPU profile of Inkstone's main thread over the ${s.windowMs} ms under load: ${s.busyMs} ms busy, ${s.idleMs} ms idle`,
    ...formatProfile(s, 20, 12),
    '',
    `Written: ${run.file}`,
    'Open it in Chrome DevTools (Performance → Load profile) or on https://www.speedscope.app.',
  ].join('\n'),
);
