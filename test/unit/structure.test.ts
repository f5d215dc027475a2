import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../../src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** The module a file belongs to: `modules/posts`, or the top folder (`views`, `http`, …). */
function moduleOf(file: string): string {
  const parts = relative(SRC, file).split('/');
  if (parts[0] === 'modules') return `modules/${parts[1]}`;
  return parts.length > 1 ? parts[0]! : `(root)/${parts[0]}`;
}

const IMPORT = /(?:^|\n)\s*(?:import|export)[^'"]*?from\s+'(\.[^']+)'/g;

/** Which modules each module imports (type-only imports count: they couple the code too). */
function moduleGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const file of sourceFiles(SRC)) {
    const from = moduleOf(file);
    const edges = graph.get(from) ?? new Set<string>();
    graph.set(from, edges);
    for (const [, spec] of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const to = moduleOf(resolve(dirname(file), spec!.replace(/\.js$/, '.ts')));
      if (to !== from) edges.add(to);
    }
  }
  return graph;
}

describe('the structure', () => {
  it('has no two capability modules that import each other, directly or in a ring', () => {
    const graph = moduleGraph();
    const modules = [...graph.keys()].filter((m) => m.startsWith('modules/'));
    const cycles: string[] = [];
    for (const start of modules) {
      // Depth-first search for a path back to `start` through other modules.
      const stack: string[][] = [[start]];
      const seen = new Set<string>();
      while (stack.length) {
        const path = stack.pop()!;
        for (const next of graph.get(path.at(-1)!) ?? []) {
          if (!next.startsWith('modules/')) continue;
          if (next === start) cycles.push([...path, next].join(' → '));
          else if (!seen.has(next)) {
            seen.add(next);
            stack.push([...path, next]);
          }
        }
      }
    }
    expect(cycles).toEqual([]);
    // The check can see an edge at all: posts pages use the blog views, comments use posts.
    expect(graph.get('modules/comments')?.has('modules/posts')).toBe(true);
  });

  it('keeps views pure: nothing under src/views imports Fastify or reaches request.server', () => {
    for (const file of sourceFiles(join(SRC, 'views'))) {
      const text = readFileSync(file, 'utf8');
      expect(text, relative(SRC, file)).not.toMatch(/from 'fastify'|\.server\b/);
    }
  });

  it('has no page handler that reaches request.server for its services', () => {
    const pages = sourceFiles(join(SRC, 'modules')).filter((f) => /pages\.ts$/.test(f));
    expect(pages.length).toBeGreaterThan(4);
    for (const file of pages) {
      expect(readFileSync(file, 'utf8'), relative(SRC, file)).not.toMatch(/request\.server|\.server\./);
    }
  });

  it('keeps every file under src/modules/posts below 300 lines', () => {
    for (const file of sourceFiles(join(SRC, 'modules/posts'))) {
      const lines = readFileSync(file, 'utf8').split('\n').length;
      expect(lines, relative(SRC, file)).toBeLessThanOrEqual(300);
    }
  });
});
