// The OpenAI-compatible door (POST /v1/chat/completions, streamed, as the official client
// calls it) against the editor's door (POST /api/v1/ai/write) and against the model called
// straight: time to first token at one concurrency, the three paths in the same rounds.
import { closedLoop, stream, type StreamResult, type Target } from './client.js';
import type { DoorsOptions, TtftOptions } from './options.js';
import { TARGETS } from './latency.js';
import { generationMsOf } from './ipc.js';
import { type LoadAverage, loadAverage, round, summarize } from '../../src/bench/stats.js';
import type { Latency } from '../../src/bench/results.js';
import { failures, freshTitle, setFake, type World } from './world.js';

export type DoorPath = 'direct' | 'editor' | 'openai';
const PATHS: DoorPath[] = ['direct', 'editor', 'openai'];

export interface DoorsResult {
  concurrency: number;
  answerTokens: number;
  /** The alias the OpenAI door was asked for, as GET /v1/models listed it. */
  model: string;
  ttft: Record<DoorPath, Latency>;
  /** Until Inkstone's `start` event (editor) or its first, role-only chunk (OpenAI door). */
  accepted: { editor: Latency; openai: Latency };
  /** Each door minus direct, and the OpenAI door minus the editor's, at the same percentile. */
  overhead: { editor: Percentiles; openai: Percentiles; openaiVsEditor: Percentiles };
  /** Per round, each path's p50 and which went first. */
  rounds: { order: DoorPath[]; p50: Record<DoorPath, number> }[];
  errors: Record<DoorPath, ReturnType<typeof failures>>;
  loadAverage: LoadAverage;
  pass: boolean;
}

type Percentiles = { p50: number; p99: number };

/** The model aliases the OpenAI door lists (GET /v1/models), as a client would find them. */
export async function listModels(url: string, token: string): Promise<string[]> {
  const response = await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${token}` } });
  if (!response.ok) throw new Error(`GET /v1/models: HTTP ${response.status} ${await response.text()}`);
  const body = (await response.json()) as { data: { id: string }[] };
  return body.data.map((m) => m.id);
}

export async function measureDoors(
  world: World,
  options: DoorsOptions,
  timings: TtftOptions['timings'],
): Promise<DoorsResult> {
  const door = world.door;
  if (door?.via !== 'openai-door') throw new Error('the OpenAI door is not set up');
  const { concurrency, samples, answerTokens } = options;
  await setFake(world, { ...timings, answerTokens });
  const targets: Record<DoorPath, Target> = { direct: world.direct, editor: world.through, openai: door };
  // Started over one generation's length, so that the streams do not end (and restart) in lockstep.
  const staggerMs = generationMsOf({ ...timings, answerTokens });
  const phase = (path: DoorPath, perWorker: number) =>
    closedLoop({ concurrency, perWorker, staggerMs, run: () => stream(targets[path], freshTitle()) });

  for (const path of PATHS) await phase(path, Math.max(1, Math.ceil(options.warmup / concurrency)));
  const perWorker = Math.max(1, Math.ceil(samples / (options.rounds * concurrency)));
  const all: Record<DoorPath, StreamResult[]> = { direct: [], editor: [], openai: [] };
  const rounds: DoorsResult['rounds'] = [];
  for (let r = 0; r < options.rounds; r++) {
    const order = [...PATHS.slice(r % 3), ...PATHS.slice(0, r % 3)];
    const p50 = { direct: NaN, editor: NaN, openai: NaN };
    for (const path of order) {
      const results = await phase(path, perWorker);
      all[path].push(...results);
      p50[path] = summarize(results.filter((x) => x.ok).map((x) => x.ttftMs)).p50;
    }
    rounds.push({ order, p50 });
  }
  const ok = (path: DoorPath) => all[path].filter((x) => x.ok);
  const ttft = {
    direct: summarize(ok('direct').map((x) => x.ttftMs)),
    editor: summarize(ok('editor').map((x) => x.ttftMs)),
    openai: summarize(ok('openai').map((x) => x.ttftMs)),
  };
  const minus = (a: Latency, b: Latency) => ({ p50: round(a.p50 - b.p50), p99: round(a.p99 - b.p99) });
  const errors = {
    direct: failures(all.direct),
    editor: failures(all.editor),
    openai: failures(all.openai),
  };
  world.log(
    `  doors at ${concurrency} streams, TTFT p50/p99 ms: direct ${ttft.direct.p50}/${ttft.direct.p99}, editor ${ttft.editor.p50}/${ttft.editor.p99}, OpenAI ${ttft.openai.p50}/${ttft.openai.p99}`,
  );
  return {
    concurrency,
    answerTokens,
    model: door.model,
    ttft,
    accepted: {
      editor: summarize(ok('editor').map((x) => x.acceptedMs)),
      openai: summarize(ok('openai').map((x) => x.acceptedMs)),
    },
    overhead: {
      editor: minus(ttft.editor, ttft.direct),
      openai: minus(ttft.openai, ttft.direct),
      openaiVsEditor: minus(ttft.openai, ttft.editor),
    },
    rounds,
    errors,
    loadAverage: loadAverage(),
    // The TTFT table's targets, for the OpenAI door's overhead over direct.
    pass:
      PATHS.every((path) => errors[path].count === 0) &&
      ttft.openai.p50 - ttft.direct.p50 < TARGETS.overheadP50Ms &&
      ttft.openai.p99 - ttft.direct.p99 < TARGETS.overheadP99Ms,
  };
}
