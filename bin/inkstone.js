#!/usr/bin/env node
// The `inkstone` command runs the compiled CLI; `npm ci` compiles it (the `prepare` script).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/cli/index.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  console.error('inkstone: dist/ is missing. Run `npm run build` (npm ci does it for you).');
  process.exit(1);
}
await import(entry.href);
