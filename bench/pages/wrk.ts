// Runs Debian's wrk against one URL and reads its numbers from a Lua `done` hook that prints
// them as JSON (wrk's own text output rounds latencies and hides the error kinds).
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface WrkOptions {
  connections: number;
  durationS: number;
  threads: number;
  /** A request not answered in this long is counted as a timeout (wrk's --timeout). */
  timeoutS: number;
  /** Run wrk on this CPU (taskset). */
  cpu?: number;
  /** Sent with every request (a session cookie for the signed-in target). */
  headers?: Record<string, string>;
  /** Paths to request in turn instead of the URL's own (the soak's mix of pages). */
  paths?: string[];
}

export interface WrkResult {
  requests: number;
  durationS: number;
  requestsPerSecond: number;
  /** Response bytes (headers + body) per request, averaged: a wrong or empty page shows here. */
  bytesPerResponse: number;
  latencyMs: {
    min: number;
    p50: number;
    p90: number;
    p95: number;
    p99: number;
    max: number;
    mean: number;
  };
  /** Socket errors by kind, and `status`: responses other than 2xx or 3xx. */
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
}

const MARK = 'WRK-JSON ';

// latency:percentile() and the summary are in µs. Nothing is counted per request in Lua:
// a response() hook would make wrk parse every body, and it would measure itself.
const SCRIPT = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '${MARK}{"requests":%d,"durationUs":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latencyUs":{"min":%d,"p50":%d,"p90":%d,"p95":%d,"p99":%d,"max":%d,"mean":%.1f}}\\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency:percentile(50), latency:percentile(90), latency:percentile(95),
    latency:percentile(99), latency.max, latency.mean))
end
`;

const scriptFiles = new Map<string, string>();

/** The report script, with a request() that cycles through `paths` when there are any. */
function scriptFor(paths: string[] | undefined): string {
  const key = JSON.stringify(paths ?? []);
  let file = scriptFiles.get(key);
  if (file) return file;
  const rotate = paths?.length
    ? `local paths = {${paths.map((x) => JSON.stringify(x)).join(', ')}}
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format(nil, paths[i])
end
`
    : '';
  file = join(mkdtempSync(join(tmpdir(), 'inkstone-wrk-')), 'report.lua');
  writeFileSync(file, rotate + SCRIPT);
  scriptFiles.set(key, file);
  return file;
}

/** null when wrk is installed, else the sentence to print instead of the benchmark. */
export function wrkProblem(): string | null {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    return null;
  } catch (error) {
    // wrk --version exits 1 after printing its version: only a missing binary is a problem.
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return null;
    return 'wrk is not installed: apt-get install -y wrk (Debian), then run npm run bench:pages again';
  }
}

interface Raw {
  requests: number;
  durationUs: number;
  bytes: number;
  errors: WrkResult['errors'];
  latencyUs: WrkResult['latencyMs'];
}

const ms = (us: number) => Math.round(us) / 1000;

export async function runWrk(url: string, options: WrkOptions): Promise<WrkResult> {
  const scriptFile = scriptFor(options.paths);
  const args = [
    '-t',
    String(options.threads),
    '-c',
    String(options.connections),
    '-d',
    `${options.durationS}s`,
    '--timeout',
    `${options.timeoutS}s`,
    ...Object.entries(options.headers ?? {}).flatMap(([name, value]) => ['-H', `${name}: ${value}`]),
    '-s',
    scriptFile,
    url,
  ];
  const [file, argv] =
    options.cpu === undefined ? ['wrk', args] : ['taskset', ['-c', String(options.cpu), 'wrk', ...args]];
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(file, argv, { timeout: (options.durationS + 30) * 1000 }, (error, out, err) => {
      if (error) reject(new Error(`wrk failed: ${error.message}\n${err}`));
      else resolve(out);
    });
  });
  const line = stdout.split('\n').find((x) => x.startsWith(MARK));
  if (!line) throw new Error(`wrk printed no summary:\n${stdout}`);
  const raw = JSON.parse(line.slice(MARK.length)) as Raw;
  const durationS = raw.durationUs / 1e6;
  return {
    requests: raw.requests,
    durationS: Math.round(durationS * 100) / 100,
    requestsPerSecond: Math.round(raw.requests / durationS),
    bytesPerResponse: raw.requests ? Math.round(raw.bytes / raw.requests) : 0,
    latencyMs: {
      min: ms(raw.latencyUs.min),
      p50: ms(raw.latencyUs.p50),
      p90: ms(raw.latencyUs.p90),
      p95: ms(raw.latencyUs.p95),
      p99: ms(raw.latencyUs.p99),
      max: ms(raw.latencyUs.max),
      mean: ms(raw.latencyUs.mean),
    },
    errors: raw.errors,
  };
}
