// Inkstone runs from dist/ (bench/build.ts): a CPU profile names the compiled .js files. With
// --enable-source-maps, Node loads their source maps; the child saves those of the files it
// loaded as it exits (the profile is written at exit too), and the profile's frames are put
// back on the TypeScript files and lines, so DevTools, speedscope and the summary all point at
// src/. (Files that tsx compiled, one line each, carry tsx's inline maps and are mapped alike.)
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { findSourceMap, SourceMap, type SourceMapPayload } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** The environment variable that asks the Inkstone child to save its source maps there. */
export const SOURCE_MAPS_FILE = 'BENCH_SOURCE_MAPS_FILE';

/** In the child: the source maps of every loaded file under `dir`, by file URL, written to `file`. */
export function saveSourceMaps(dir: string, file: string): void {
  const maps: Record<string, SourceMapPayload> = {};
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !/\.[jt]s$/.test(entry.name)) continue;
    const url = pathToFileURL(join(entry.parentPath, entry.name)).href;
    const map = findSourceMap(url);
    if (map) maps[url] = map.payload;
  }
  writeFileSync(file, JSON.stringify(maps));
}

interface CallFrame {
  url: string;
  lineNumber: number;
  columnNumber: number;
}

/** Rewrites `profileFile` in place with the TypeScript positions; returns how many frames moved. */
export function mapProfile(profileFile: string, mapsFile: string): number {
  const payloads = JSON.parse(readFileSync(mapsFile, 'utf8')) as Record<string, SourceMapPayload>;
  const maps = new Map(Object.entries(payloads).map(([url, payload]) => [url, new SourceMap(payload)]));
  const profile = JSON.parse(readFileSync(profileFile, 'utf8')) as { nodes: { callFrame: CallFrame }[] };
  let mapped = 0;
  for (const { callFrame: frame } of profile.nodes) {
    const entry = maps.get(frame.url)?.findEntry(frame.lineNumber, frame.columnNumber);
    if (!entry || !('originalLine' in entry)) continue;
    // A compiled file's frames move to its source (dist/app.js → src/app.ts).
    if (entry.originalSource) frame.url = entry.originalSource;
    frame.lineNumber = entry.originalLine;
    frame.columnNumber = entry.originalColumn;
    mapped++;
  }
  writeFileSync(profileFile, JSON.stringify(profile));
  return mapped;
}
