// Reads a V8 .cpuprofile (node --cpu-prof) and names where the time went: self time per
// function and per module, busy time only (idle excluded).
import { readFileSync } from 'node:fs';
import { ROOT } from './children.js';
import { round } from '../../src/bench/stats.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface CpuProfile {
  nodes: { id: number; callFrame: CallFrame }[];
  startTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileSummary {
  file: string;
  /** The samples summed: those inside the measured window (start-up, loading code, is left out). */
  windowMs: number;
  busyMs: number;
  idleMs: number;
  top: { function: string; where: string; selfMs: number; percent: number }[];
  modules: { module: string; selfMs: number; percent: number }[];
}

const IDLE = new Set(['(idle)']);

/** `src/modules/ai/router.ts`, `fastify`, `@fastify/static`, `node:internal/streams`, `(native)`. */
function moduleOf(url: string): string {
  if (!url) return '(native)';
  const packaged = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (packaged) return packaged[1]!;
  if (url.startsWith('node:')) return url.split('/').slice(0, 2).join('/');
  const local = url.replace(/^file:\/\//, '');
  return local.startsWith(ROOT) ? local.slice(ROOT.length) : local;
}

/** `window`: [from, to] on the profile's clock (µs, process.hrtime's monotonic clock). */
export function summarizeProfile(file: string, window: [number, number], limit = 20): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  const byFunction = new Map<string, { function: string; where: string; selfUs: number }>();
  const byModule = new Map<string, number>();
  let busyUs = 0;
  let idleUs = 0;
  let at = profile.startTime;
  for (let i = 0; i < samples.length; i++) {
    at += deltas[i] ?? 0;
    if (at < window[0] || at > window[1]) continue;
    // A sample's delta is the time since the previous one: the time until the next is this one's.
    const us = deltas[i + 1] ?? 0;
    const frame = frames.get(samples[i]!);
    if (!frame) continue;
    const name = frame.functionName || '(anonymous)';
    if (IDLE.has(name)) {
      idleUs += us;
      continue;
    }
    busyUs += us;
    const module = moduleOf(frame.url);
    const where = frame.url ? `${module}:${frame.lineNumber + 1}` : module;
    const key = `${name} ${where}`;
    const entry = byFunction.get(key) ?? { function: name, where, selfUs: 0 };
    entry.selfUs += us;
    byFunction.set(key, entry);
    byModule.set(module, (byModule.get(module) ?? 0) + us);
  }
  const percent = (us: number) => round((100 * us) / (busyUs || 1), 1);
  return {
    file,
    windowMs: round((window[1] - window[0]) / 1000, 1),
    busyMs: round(busyUs / 1000, 1),
    idleMs: round(idleUs / 1000, 1),
    top: [...byFunction.values()]
      .sort((a, b) => b.selfUs - a.selfUs)
      .slice(0, limit)
      .map((x) => ({
        function: x.function,
        where: x.where,
        selfMs: round(x.selfUs / 1000, 1),
        percent: percent(x.selfUs),
      })),
    modules: [...byModule]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([module, us]) => ({ module, selfMs: round(us / 1000, 1), percent: percent(us) })),
  };
}

/** The summary as text: self time by module, then the top functions (self time, %, function, file:line). */
export function formatProfile(profile: ProfileSummary, functions = 12, modules = 8): string[] {
  const pct = (x: number) => x.toFixed(1).padStart(5);
  return [
    '  self time by module:',
    ...profile.modules.slice(0, modules).map((m) => `  ${pct(m.percent)} %  ${m.module}`),
    '  top functions (self time):',
    ...profile.top
      .slice(0, functions)
      .map((f) => `  ${pct(f.percent)} %  ${f.selfMs.toFixed(1).padStart(8)} ms  ${f.function}  ${f.where}`),
  ];
}
