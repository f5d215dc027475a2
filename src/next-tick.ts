import { executionAsyncResource } from 'node:async_hooks';

// Keeps `process.nextTick` fast for the life of the process (Node 20's V8; measured below).
//
// nextTick queues a task literal, `{ [async_id_symbol]: …, [trigger_async_id_symbol]: …,
// callback, args }`. Each key after the first computed one is added by the
// DefineKeyedOwnPropertyInLiteral bytecode, whose feedback goes from monomorphic straight to
// megamorphic the first time it sees a different hidden class (it has no polymorphic state), and
// stays there: optimised code then calls into the V8 runtime for every key of every task.
// The hidden classes of the task are held only weakly, so a full GC at a moment when no task is
// queued (any start-up has several) collects them; the next nextTick builds new ones, and from
// then on the process pays ~200 ns more per tick. Whether an `inkstone serve` process was
// struck depended on when its start-up's full GCs fell: about half were, and their cached pages
// ran ~20 runtime calls more (~24k of a hit's ~100k instructions under callgrind; ~7 % more CPU
// in one trial by hand, within the spread of the full bench). Holding one task object for the
// life of the process keeps its hidden classes, so the feedback stays monomorphic. Measured on
// plain node 20.20, 1,000 ticks then `gc()`, then 100,000 chained ticks: 262–280 ns a tick;
// 43–45 ns with one task kept (46–50 ns with no GC).
// test/next-tick.test.ts shows both outcomes.

let asked = false;
let kept: object | null = null;

/**
 * Holds the next task object nextTick makes, for good. Call it first thing in a process that
 * serves (before anything else queues a tick); calling it again does nothing.
 */
export function keepNextTickFast(): void {
  if (asked) return;
  asked = true;
  process.nextTick(() => {
    kept = executionAsyncResource();
  });
}

/** The task object being kept (null until its tick has run). */
export const keptTask = (): object | null => kept;
