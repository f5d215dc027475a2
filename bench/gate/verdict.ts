// The CI performance gate's rule: for each target in the floors file, Inkstone's requests per
// second over the bare node:http server's, measured in the same run, must not drop below the
// floor. Several rounds are run and each target's median ratio counts: a regression lowers
// every round, while noise on a shared machine (another job taking a core during the baseline
// or the target) moves one round either way. Any error (connect, read, write, a status other
// than 2xx/3xx) fails; timeouts (wrk's, 5 s) only past 1 % of the requests, since a stalled
// machine times a few out whatever the code does.
import { readFileSync } from 'node:fs';
import { median } from '../../src/bench/stats.js';
import type { TargetName } from '../pages/run.js';

/** The targets a floor may be set for: one Inkstone (no cluster), anonymous, on SQLite. */
export const GATE_TARGETS = [
  'home',
  'post',
  'api',
  'home-cached',
  'post-cached',
] as const satisfies readonly TargetName[];
export type GateTarget = (typeof GATE_TARGETS)[number];

export interface GateFloors {
  /** Inkstone's req/s ÷ the bare server's, at least; in the file's order. */
  floors: Partial<Record<GateTarget, number>>;
}

/** Reads and checks the floors file; an error names the file and the field. */
export function readFloors(file: string): GateFloors {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`${file}: ${(error as Error).message}`, { cause: error });
  }
  return parseFloors(value, file);
}

export function parseFloors(value: unknown, source = 'floors'): GateFloors {
  const floors = (value as { floors?: unknown } | null)?.floors;
  if (typeof floors !== 'object' || floors === null || Array.isArray(floors))
    throw new Error(`${source}: "floors" must be an object of target → ratio`);
  const entries = Object.entries(floors);
  if (entries.length === 0) throw new Error(`${source}: "floors" names no target`);
  const result: GateFloors['floors'] = {};
  for (const [target, floor] of entries) {
    if (!(GATE_TARGETS as readonly string[]).includes(target))
      throw new Error(`${source}: floors.${target}: not a gate target (one of ${GATE_TARGETS.join(', ')})`);
    if (typeof floor !== 'number' || !(floor > 0 && floor <= 1))
      throw new Error(
        `${source}: floors.${target} must be a ratio > 0 and ≤ 1 (got ${JSON.stringify(floor)})`,
      );
    result[target as GateTarget] = floor;
  }
  return { floors: result };
}

/** One target as measured over the gate's rounds. */
export interface GateMeasurement {
  target: string;
  /** Its ratio to the bare server in each round. */
  ratios: number[];
  requests: number;
  /** Connect, read and write errors and statuses other than 2xx/3xx, over every round. */
  errors: number;
  timeouts: number;
}

/** The share of requests that may time out before the gate fails. */
export const TIMEOUT_SHARE = 0.01;

export interface GateRow extends GateMeasurement {
  /** The median round's ratio: the one judged. */
  ratio: number;
  floor: number;
  pass: boolean;
  /** Why it failed, in words. */
  reason?: string;
}

export interface GateVerdict {
  pass: boolean;
  rows: GateRow[];
}

export function judgeGate(measured: readonly GateMeasurement[], floors: GateFloors): GateVerdict {
  const rows = Object.entries(floors.floors).map(([target, floor]): GateRow => {
    const found = measured.find((x) => x.target === target);
    if (!found || found.ratios.length === 0)
      return {
        target,
        ratios: [],
        requests: 0,
        errors: 0,
        timeouts: 0,
        ratio: 0,
        floor,
        pass: false,
        reason: 'not measured',
      };
    const ratio = median(found.ratios);
    const reasons = [
      ...(ratio >= floor ? [] : [`ratio ${ratio} < floor ${floor}`]),
      ...(found.errors === 0 ? [] : [`${found.errors} errors`]),
      ...(found.timeouts <= TIMEOUT_SHARE * found.requests
        ? []
        : [`${found.timeouts} timeouts of ${found.requests} requests`]),
      ...(found.requests > 0 ? [] : ['no request answered']),
    ];
    return {
      ...found,
      ratio,
      floor,
      pass: reasons.length === 0,
      ...(reasons.length ? { reason: reasons.join('; ') } : {}),
    };
  });
  return { pass: rows.every((x) => x.pass), rows };
}
