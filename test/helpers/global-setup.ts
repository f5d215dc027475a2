import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A folder for this run's SQLite files; see test/helpers/db.ts. */
    testDataFolder: string;
  }
}

// Owned by the main process because Vitest ends its workers without running their exit
// handlers: a folder made in a worker would outlive the run.
export default function setup(project: TestProject) {
  const folder = mkdtempSync(join(tmpdir(), 'inkstone-test-'));
  project.provide('testDataFolder', folder);
  return () => rmSync(folder, { recursive: true, force: true });
}
