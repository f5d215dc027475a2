// `inkstone bench <test>`: each test lives in its own module, imported only when it runs, so
// the blog's own commands never load the bench code. A module adds itself to COMMANDS.

export interface BenchCommand {
  /** One line for `inkstone bench --help`. */
  summary: string;
  /** Runs the test with its own arguments; resolves to the process exit code. */
  run(args: string[]): Promise<number>;
}

type Loader = () => Promise<BenchCommand>;

const COMMANDS: Record<string, Loader> = {
  load: () => import('./load.js').then((m) => m.command),
  cache: () => import('./cache.js').then((m) => m.command),
  concurrency: () => import('./concurrency.js').then((m) => m.command),
  pages: () => import('./pages.js').then((m) => m.command),
  ai: () => import('./ai.js').then((m) => m.command),
  report: () => import('./report/command.js').then((m) => m.command),
  compare: () => import('./compare-command.js').then((m) => m.command),
};

export function benchUsage(): string {
  const names = Object.keys(COMMANDS);
  return [
    'Usage: inkstone bench <test> [options]   (inkstone bench <test> --help for its options)',
    '',
    `Tests: ${names.length ? names.join(', ') : '(none)'}`,
  ].join('\n');
}

export async function runBench(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    const lines = [benchUsage(), ''];
    for (const [test, load] of Object.entries(COMMANDS))
      lines.push(`  ${test.padEnd(12)} ${(await load()).summary}`);
    console.log(lines.join('\n'));
    return 0;
  }
  const load = COMMANDS[name];
  if (!load) {
    console.error(`Unknown bench test: ${name}\n\n${benchUsage()}`);
    return 2;
  }
  return (await load()).run(rest);
}
