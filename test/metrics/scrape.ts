import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** Every sample of `name` in a Prometheus text scrape whose labels include `labels`. */
export function samples(text: string, name: string, labels: Record<string, string> = {}): number[] {
  const found: number[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const given = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]),
    );
    if (Object.entries(labels).every(([key, value]) => given[key] === value)) found.push(Number(match[3]));
  }
  return found;
}

/** The sum of the matching samples (0 when none). */
export const value = (text: string, name: string, labels: Record<string, string> = {}) =>
  samples(text, name, labels).reduce((sum, x) => sum + x, 0);

/** Every label value of `label` on `name`'s samples. */
export function labelValues(text: string, name: string, label: string): string[] {
  const found = new Set<string>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const match = new RegExp(`[{,]${label}="((?:[^"\\\\]|\\\\.)*)"`).exec(line);
    if (match) found.add(match[1]!);
  }
  return [...found];
}

const PROMTOOL = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((path) => existsSync(path));
export const havePromtool = PROMTOOL !== undefined;

/** `promtool check metrics` on a scrape: its complaints (lint problems), or '' when clean. */
export async function promtoolCheck(text: string): Promise<string> {
  if (!PROMTOOL) throw new Error('promtool is not installed (Debian package prometheus)');
  const file = join(tmpdir(), `inkstone-scrape-${process.pid}-${Date.now()}.txt`);
  writeFileSync(file, text);
  const run = promisify(execFile);
  try {
    await run('sh', ['-c', `"${PROMTOOL}" check metrics < "${file}"`]);
    return '';
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string };
    return `${failed.stdout ?? ''}${failed.stderr ?? ''}`.trim() || String(error);
  }
}
