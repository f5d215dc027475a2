// The load test's user mix. The defaults are the original design's: per 19 actions a
// virtual user views the home page 10 times, a post 5 times, logs in once, writes a post
// once and asks for an AI draft twice. A scenario file (JSON) may change the weights and the
// think time:
//
//   { "weights": { "home": 10, "post": 5, "login": 1, "create-post": 1, "ai-draft": 2 },
//     "think": "1-5s" }
import { readFile } from 'node:fs/promises';
import { FlagError, parseRange } from './flags.js';

export const LOAD_KINDS = ['home', 'post', 'login', 'create-post', 'ai-draft'] as const;
export type LoadKind = (typeof LOAD_KINDS)[number];

export const DEFAULT_WEIGHTS: Record<LoadKind, number> = {
  home: 10,
  post: 5,
  login: 1,
  'create-post': 1,
  'ai-draft': 2,
};

export interface Scenario {
  weights: Record<LoadKind, number>;
  /** Think time [min, max] in ms, when the file sets one. */
  thinkMs?: [number, number];
}

/** Checks a parsed scenario, naming the field at fault. */
export function validateScenario(data: unknown, source = 'scenario'): Scenario {
  if (typeof data !== 'object' || data === null || Array.isArray(data))
    throw new FlagError(`${source}: must be a JSON object with "weights" (and optionally "think").`);
  const record = data as Record<string, unknown>;
  for (const key of Object.keys(record))
    if (key !== 'weights' && key !== 'think')
      throw new FlagError(`${source}: unknown field "${key}" (known: weights, think).`);
  const weights = { ...DEFAULT_WEIGHTS };
  if (record.weights !== undefined) {
    const given = record.weights;
    if (typeof given !== 'object' || given === null || Array.isArray(given))
      throw new FlagError(`${source}: "weights" must be an object such as {"home": 10, "post": 5}.`);
    for (const [name, value] of Object.entries(given)) {
      if (!(LOAD_KINDS as readonly string[]).includes(name))
        throw new FlagError(
          `${source}: weights.${name} is not an endpoint (known: ${LOAD_KINDS.join(', ')}).`,
        );
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
        throw new FlagError(`${source}: weights.${name} must be a number of 0 or more.`);
      weights[name as LoadKind] = value;
    }
    if (Object.values(weights).every((w) => w === 0))
      throw new FlagError(`${source}: weights are all 0; at least one endpoint must have a weight.`);
  }
  const scenario: Scenario = { weights };
  if (record.think !== undefined) {
    if (typeof record.think !== 'string' && typeof record.think !== 'number')
      throw new FlagError(`${source}: "think" must be a range such as "1-5s", or 0.`);
    try {
      scenario.thinkMs = parseRange(String(record.think), 'think');
    } catch (error) {
      throw new FlagError(`${source}: think: ${(error as Error).message.replace(/^--think: /, '')}`);
    }
  }
  return scenario;
}

export async function loadScenario(file: string): Promise<Scenario> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new FlagError(
      `--scenario: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'}).`,
    );
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new FlagError(`--scenario: ${file} is not valid JSON (${(error as Error).message}).`);
  }
  return validateScenario(data, file);
}
