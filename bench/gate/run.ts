// The CI gate's measurement: a few short rounds of the page benchmark (bench/pages/run.ts, the
// same wrk driver, seeded SQLite, NODE_ENV=production Inkstone and bare node:http server
// sending the home page's bytes), on the floors' targets only, and each target's ratios.
import type { RatioSection } from '../../src/bench/results.js';
import { pagesSection } from '../pages/ratio.js';
import { type PagesBenchResult, runPagesBench } from '../pages/run.js';
import type { GateMeasurement, GateTarget, GateVerdict } from './verdict.js';

export interface GateOptions {
  targets: GateTarget[];
  rounds: number;
  durationS: number;
  warmupS: number;
  /** wrk's connections, on one thread: wrk keeps one core, the server under test the other. */
  connections: number;
  pin: boolean;
  log: (line: string) => void;
}

export interface GateRun {
  result: PagesBenchResult;
  measured: GateMeasurement[];
  /** The bare server sent exactly the bytes of Inkstone's home page. */
  sameBytes: boolean;
}

/**
 * Every round on the same two servers (starting them again would cost more than a round), the
 * bare server measured again right before each target: each ratio is against a baseline seconds
 * old, not one taken before another job on the machine started or stopped.
 */
export async function measureGate(options: GateOptions): Promise<GateRun> {
  const result = await runPagesBench({
    databases: ['sqlite'],
    only: options.targets,
    rounds: options.rounds,
    baselineBeforeEach: true,
    connections: options.connections,
    threads: 1,
    clusterWorkers: 0,
    durationS: options.durationS,
    warmupS: options.warmupS,
    timeoutS: 5,
    pin: options.pin,
    postgresUrl: '',
    log: options.log,
  });
  const targets = result.runs.flatMap((run) => run.targets);
  const measured = options.targets.map((target): GateMeasurement => {
    const of = targets.filter((x) => x.target === target);
    return {
      target,
      ratios: of.map((x) => x.ratio),
      requests: of.reduce((sum, x) => sum + x.wrk.requests, 0),
      timeouts: of.reduce((sum, x) => sum + x.wrk.errors.timeout, 0),
      errors: of.reduce((sum, x) => {
        const { connect, read, write, status } = x.wrk.errors;
        return sum + connect + read + write + status;
      }, 0),
    };
  });
  const sameBytes = result.runs.every((run) => run.baselineSameBytes === true);
  return { result, measured, sameBytes };
}

/** The gate as the results schema's RatioSection: per target, the judged round's row, with its floor. */
export function gateSection(run: GateRun, verdict: GateVerdict): RatioSection {
  const section = pagesSection(run.result, 'gate', false);
  const rows: RatioSection['rows'] = [];
  for (const row of section.rows) {
    if (rows.some((x) => x.target === row.target)) continue;
    const judged = verdict.rows.find((x) => x.target === row.target);
    if (!judged) {
      rows.push(row);
      continue;
    }
    const same = section.rows.filter((x) => x.target === row.target);
    const chosen = same.find((x) => x.ratio === judged.ratio) ?? row;
    rows.push({
      ...chosen,
      goal: `≥ ${judged.floor}× the bare server (the gate's floor)`,
      pass: judged.pass,
    });
  }
  return {
    ...section,
    rows,
    notes: [
      `${verdict.rows[0]?.ratios.length ?? 0} rounds on the same servers, the bare server measured right before each target; each target's median ratio is judged. Ratios per round: ${verdict.rows.map((x) => `${x.target} ${x.ratios.join(', ')}`).join('; ')}.`,
      ...section.notes,
    ],
  };
}
