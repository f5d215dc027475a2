import { createRequire } from 'node:module';

const load = createRequire(import.meta.url);

/**
 * A CommonJS package loaded on first use instead of at start: for what only some
 * configurations need (pg on PostgreSQL, ioredis and BullMQ with Redis). Loaded at start,
 * they cost every instance heap that each full collection then marks: on SQLite without
 * Redis, the started app's heap after a full collection went from 41.0 to 35.5 MB (and 330
 * fewer CommonJS modules). Type it with the package's namespace (`import type * as Pg from
 * 'pg'`, then `typeof Pg`): the type is checked, the package not loaded until called.
 */
export function lazyRequire<T>(name: string): () => T {
  let module: T | undefined;
  return () => (module ??= load(name) as T);
}
