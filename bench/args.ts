// Command-line options of the bench scripts: --help prints the usage, a bad option or value
// says which and exits 2 (as `inkstone` does), before anything is started.
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;
const HELP = { help: { type: 'boolean', short: 'h' } } as const;

export function parseBenchArgs<const T extends Options>(usage: string, options: T) {
  try {
    const { values } = parseArgs<{ args: string[]; options: T & typeof HELP }>({
      args: process.argv.slice(2),
      options: { ...options, ...HELP },
    });
    if ((values as { help?: boolean }).help) {
      console.log(usage);
      process.exit(0);
    }
    return values;
  } catch (error) {
    return usageError(usage, (error as Error).message);
  }
}

export function usageError(usage: string, message: string): never {
  console.error(`${message}\n\n${usage}`);
  process.exit(2);
}

/** A number > 0 from an option's text, or the usage error naming the option. */
export function positive(usage: string, option: string, text: string): number {
  const value = Number(text);
  if (!(Number.isFinite(value) && value > 0))
    usageError(usage, `${option} must be a number > 0 (got "${text}")`);
  return value;
}

/** A whole number ≥ 1, or the usage and exit code 2. */
export function count(usage: string, option: string, text: string): number {
  const value = Number(text);
  if (!(Number.isInteger(value) && value >= 1))
    usageError(usage, `${option} must be a whole number ≥ 1 (got "${text}")`);
  return value;
}
