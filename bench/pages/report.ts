// The page benchmark's table: one row per target and database, each against the bare server.
import { formatProfile } from '../ai/profile.js';
import type { PagesBenchResult } from './run.js';

const pad = (s: string, n: number) => s.padEnd(n);
const lpad = (s: string, n: number) => s.padStart(n);

export function formatReport(result: PagesBenchResult): string {
  const lines = [
    `Pages: ${result.generator}, ${result.machine.cpus} × ${result.machine.cpuModel}, Node ${result.machine.node}`,
    `Layout: ${result.layout.note}`,
    `Load average: ${result.loadAverage.start.join(' ')} at the start, ${result.loadAverage.end.join(' ')} at the end`,
    '',
    `${pad('database', 9)}${pad('target', 16)}${lpad('req/s', 8)}${lpad('× bare', 8)}${lpad('p50 ms', 9)}${lpad('p99 ms', 9)}${lpad('p99/p50', 9)}${lpad('timeouts', 10)}${lpad('errors', 8)}${lpad('cpu ms/req', 12)}${lpad('loop p99', 10)}  cookie  verdict`,
  ];
  for (const run of result.runs) {
    if (run.skipped) {
      lines.push(`${pad(run.database, 9)}SKIPPED: ${run.skipped}`);
      continue;
    }
    for (const x of run.targets) {
      const { errors, latencyMs } = x.wrk;
      const other = errors.connect + errors.read + errors.write + errors.status;
      lines.push(
        `${pad(run.database, 9)}${pad(x.target, 16)}${lpad(String(x.wrk.requestsPerSecond), 8)}${lpad(x.ratio.toFixed(3), 8)}${lpad(latencyMs.p50.toFixed(2), 9)}${lpad(latencyMs.p99.toFixed(2), 9)}${lpad(x.p99OverP50.toFixed(2), 9)}${lpad(String(errors.timeout), 10)}${lpad(String(other), 8)}${lpad(Number.isFinite(x.cpuMsPerRequest) ? x.cpuMsPerRequest.toFixed(3) : '-', 12)}${lpad(x.loopDelayMs ? x.loopDelayMs.p99.toFixed(1) : '-', 10)}  ${pad(x.probe.setCookie.length ? 'set' : 'none', 6)}  ${x.pass ? 'ok' : 'FAIL'}`,
      );
    }
    if (run.medians) {
      lines.push(
        '',
        `${pad(run.database, 9)}medians of each target's measurements${result.settings.freshProcesses ? ', on new processes each round' : ''} (the verdict is theirs):`,
        `${pad('', 9)}${pad('target', 18)}${lpad('n', 7)}${lpad('× bare', 8)}${lpad('p99/p50', 9)}${lpad('p99/bare', 10)}  verdict`,
      );
      for (const x of run.medians)
        lines.push(
          `${pad('', 9)}${pad(x.target, 18)}${lpad(String(x.rounds), 7)}${lpad(x.ratio.toFixed(3), 8)}${lpad(x.p99OverP50.toFixed(2), 9)}${lpad(x.p99OverBare.toFixed(2), 10)}  ${x.pass ? 'ok' : 'FAIL'}`,
        );
    }
    for (const x of run.medians ?? run.targets.filter((t) => t.missed.length))
      if (x.missed.length) lines.push(`${pad('', 9)}${x.target} missed: ${x.missed.join('; ')}`);
    lines.push(
      `${pad('', 9)}the bare server sent a home-page hit's exact bytes (${(run.baselineHeaders?.length ?? 0) / 2} headers, ${run.homeBytes} B body): ${run.baselineSameBytes ? 'yes' : 'NO'}`,
    );
    for (const [target, profile] of Object.entries(run.profile ?? {})) {
      lines.push(
        '',
        `${run.database} ${target}: CPU profile, busy ${profile.busyMs} ms of ${profile.windowMs} ms`,
      );
      lines.push(...formatProfile(profile));
    }
  }
  lines.push(
    '',
    'Goals: no errors or timeouts; cached pages ≥ 0.8× the bare server with p99 ≤ 1.5× its p99;',
    'signed-in pages and the API ≥ 0.25×; uncached pages p99 ≤ 3 × p50.',
    `Goals ${result.pass ? 'met' : 'NOT met'}.`,
    ...(result.interrupted
      ? ['Interrupted (Ctrl-C): the targets after the last one shown were not measured.']
      : []),
  );
  return lines.join('\n');
}
