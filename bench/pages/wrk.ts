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
  /**
   * How long every connection waits before its first request (ms; default OPEN_MS): the load
   * starts on connections the server has already accepted (see OPEN_MS).
   */
  openMs?: number;
}

/**
 * wrk opens all its connections at once and sends at once on each. Node (libuv ≥ 1.45)
 * accepts one connection per event-loop turn, and a turn serves every connection already
 * open, so on a server that spends c ms per request the k-th connection waits about
 * (1 + … + k)·c: ~650 ms for the 100th at Inkstone's 0.13 ms post page, 400 ms for the API.
 * wrk's coordinated-omission correction then counts each of those ~100 late first answers
 * again at every interval below it (~2,500 samples, 4 % of an 8 s run), which was the whole
 * p99 of the uncached targets and, in some runs, of a bare server burning the same CPU.
 * Holding every first request this long lets an idle server accept them all first (the
 * test sees every first request arrive with all open), so the measurement is of 100 open
 * connections, as the goals say. The run's requests/s counts this time as idle (1.25 % of
 * 8 s), the bare server's alike.
 */
export const OPEN_MS = 100;

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

// latency:percentile() and the summary are in µs. Nothing is counted per response in Lua:
// a response() hook would make wrk parse every body, and it would measure itself (the
// per-request delay() costs no measurable rate: a bare server 57–62k req/s with it, 54–61k
// without, alternating runs).
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

/**
 * The report script, with a delay() that holds each connection's first request `openMs`, and
 * a request() that cycles through `paths` when there are any.
 */
function scriptFor(paths: string[] | undefined, firstRequests: number, openMs: number): string {
  const key = JSON.stringify([paths ?? [], firstRequests, openMs]);
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
  // One Lua state per wrk thread, so the count is of this thread's connections; a reconnect
  // later in the run is not held.
  const open =
    openMs > 0
      ? `local held = ${firstRequests}
delay = function()
  if held > 0 then
    held = held - 1
    return ${openMs}
  end
  return 0
end
`
      : '';
  file = join(mkdtempSync(join(tmpdir(), 'inkstone-wrk-')), 'report.lua');
  writeFileSync(file, open + rotate + SCRIPT);
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
  const scriptFile = scriptFor(
    options.paths,
    // wrk gives each thread connections / threads of them, rounded down.
    Math.floor(options.connections / options.threads),
    options.openMs ?? OPEN_MS,
  );
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
