// What every scenario works with: the two child processes and the ways to the model.
import { randomBytes } from 'node:crypto';
import type { Child } from './children.js';
import type { StreamResult, Target } from './client.js';
import type { FakeCommand, FakeStatsSummary, FakeTimings, InkstoneCommand } from './ipc.js';

export interface World {
  fake: Child<FakeCommand>;
  inkstone: Child<InkstoneCommand>;
  /** The fake model server called straight, with the request Inkstone would send it. */
  direct: Target;
  /** The same model through Inkstone: POST /api/v1/ai/write with an API token. */
  through: Target;
  /** The same again through Inkstone's OpenAI-compatible door, POST /v1/chat/completions. */
  door?: Target;
  /**
   * The direct request through a bare relay on Inkstone's CPU (relay-child.ts): the control,
   * what one more process between client and model costs here before any work of its own.
   */
  relay?: Target;
  log: (line: string) => void;
}

const run = randomBytes(3).toString('hex');
let serial = 0;

/**
 * A title no request has used: every prompt is new, so neither the cache nor coalescing
 * answers it. Same length every time, so every prompt has the same shape. The `#…` id lets the
 * fake's record of the request be matched with the client's (requestId).
 */
export function freshTitle(): string {
  return `Notes on benchmark run, post #${run}.${String(serial++).padStart(7, '0')}`;
}

/** The id in a title from freshTitle (or in a prompt that contains one). */
export function requestId(text: string): string | undefined {
  return /#([0-9a-f]{6}\.\d{7})/.exec(text)?.[1];
}

export async function setFake(world: Pick<World, 'fake'>, timings: FakeTimings): Promise<void> {
  await world.fake.call({ type: 'set', settings: timings });
  await world.fake.call({ type: 'reset' });
}

export const fakeStats = (world: Pick<World, 'fake'>) => world.fake.call<FakeStatsSummary>({ type: 'stats' });

/** The first few distinct failures, for the report. */
export function failures(results: readonly StreamResult[]): { count: number; examples: string[] } {
  const failed = results.filter((r) => !r.ok);
  return { count: failed.length, examples: [...new Set(failed.map((r) => r.error ?? '?'))].slice(0, 3) };
}

/** CPU time both children have used so far, ms: differences give what a phase cost each. */
export async function cpuNow(
  world: Pick<World, 'fake' | 'inkstone'>,
): Promise<{ inkstone: number; fake: number }> {
  const [inkstone, fake] = await Promise.all([
    world.inkstone.call<number>({ type: 'cpu' }),
    world.fake.call<number>({ type: 'cpu' }),
  ]);
  return { inkstone, fake };
}

export const MB = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
