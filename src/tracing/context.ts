import { AsyncLocalStorage } from 'node:async_hooks';
import { type Context, type ContextManager, ROOT_CONTEXT } from '@opentelemetry/api';

/**
 * OpenTelemetry's context (the active span, and what outgoing calls propagate) carried along
 * async calls by Node's AsyncLocalStorage. OpenTelemetry's own manager of this kind lives in
 * @opentelemetry/context-async-hooks, which Inkstone does not ship; the API and the trace SDK
 * bring none for Node. It is not registered as OpenTelemetry's global manager: everything
 * here passes contexts explicitly, so apps in one process (tests) share no global state.
 */
export class AsyncLocalContextManager implements ContextManager {
  private readonly storage = new AsyncLocalStorage<Context>();
  /** How many times a context was entered: a test checks that nothing does without export. */
  entered = 0;

  active(): Context {
    return this.storage.getStore() ?? ROOT_CONTEXT;
  }

  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    context: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    this.entered++;
    return this.storage.run(context, () => fn.call(thisArg, ...args));
  }

  /** Functions only: Inkstone binds no event emitters to a context. */
  bind<T>(context: Context, target: T): T {
    if (typeof target !== 'function') return target;
    const run = target as unknown as (...args: unknown[]) => unknown;
    const enter = <R>(fn: () => R): R => this.with(context, fn);
    return function (this: unknown, ...args: unknown[]) {
      return enter(() => run.apply(this, args));
    } as unknown as T;
  }

  enable(): this {
    return this;
  }

  disable(): this {
    this.storage.disable();
    return this;
  }
}

/** The process's one carrier of trace contexts (a context belongs to an async call chain, not to an app). */
export const traceContexts = new AsyncLocalContextManager();
