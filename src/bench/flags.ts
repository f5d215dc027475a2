// Command-line flags of the bench tests: `--name value` or `--name=value`, each checked and
// refused with a sentence that names the flag (a typo must not silently run a default).

export class FlagError extends Error {}

export interface FlagSpec {
  /** Flags that take a value. */
  values: readonly string[];
  /** Flags that stand alone (`help` is also `-h`). */
  switches?: readonly string[];
  /** Whether arguments that are not flags (files) are taken; else each is refused. */
  positionals?: boolean;
}

export interface ParsedFlags {
  values: Map<string, string>;
  switches: Set<string>;
  positionals: string[];
}

export function parseFlags(args: readonly string[], spec: FlagSpec): ParsedFlags {
  const values = new Map<string, string>();
  const switches = new Set<string>();
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '-h' && spec.switches?.includes('help')) {
      switches.add('help');
      continue;
    }
    if (!arg.startsWith('--')) {
      if (!spec.positionals) throw new FlagError(`Unexpected argument "${arg}" (flags start with --).`);
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    if (spec.switches?.includes(name)) {
      if (eq !== -1) throw new FlagError(`--${name} takes no value.`);
      switches.add(name);
      continue;
    }
    if (!spec.values.includes(name)) throw new FlagError(`Unknown flag --${name}.`);
    const value = eq === -1 ? args[++i] : arg.slice(eq + 1);
    if (value === undefined || (eq === -1 && value.startsWith('--')))
      throw new FlagError(`--${name} needs a value.`);
    values.set(name, value);
  }
  return { values, switches, positionals };
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "60s", "2m", "500ms", "1.5s" or a bare number of seconds → milliseconds. */
/** A login flag and its password flag (`--user`/`--password`): both or neither. */
export function credentialFlags(
  values: ParsedFlags['values'],
  name: string,
  secret: string,
): { login: string; password: string } | undefined {
  const login = values.get(name);
  const password = values.get(secret);
  if ((login === undefined) !== (password === undefined))
    throw new FlagError(`--${name} and --${secret} go together.`);
  return login !== undefined && password !== undefined ? { login, password } : undefined;
}

export function parseDuration(text: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) throw new FlagError(`--${flag}: "${text}" is not a duration (examples: 60s, 2m, 500ms).`);
  return Math.round(Number(match[1]) * UNITS[match[2] ?? 's']!);
}

/** "1-5s", "500ms-2s", "2s" (fixed) or "0" (no think time) → [min, max] in ms. */
export function parseRange(text: string, flag: string): [number, number] {
  const parts = text.split('-');
  if (parts.length > 2) throw new FlagError(`--${flag}: "${text}" is not a range (examples: 1-5s, 0).`);
  // "1-5s": the unit of the upper end applies to a bare lower end.
  const unit = /[a-z]+$/.exec(parts.at(-1)!)?.[0] ?? 's';
  const low = parseDuration(/[a-z]$/.test(parts[0]!) ? parts[0]! : parts[0]! + unit, flag);
  const high = parts.length === 2 ? parseDuration(parts[1]!, flag) : low;
  if (high < low) throw new FlagError(`--${flag}: the upper end of "${text}" is below the lower.`);
  return [low, high];
}

export function parsePositiveInt(text: string, flag: string, max = 100_000): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new FlagError(`--${flag}: "${text}" must be a whole number from 1 to ${max}.`);
  return n;
}

export function parseFraction(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0 || n > 1)
    throw new FlagError(`--${flag}: "${text}" must be a number from 0 to 1 (0.05 is 5%).`);
  return n;
}

/** "1,5,10" → [1, 5, 10], ascending, without repeats. */
export function parseLevels(text: string, flag: string): number[] {
  const levels = text.split(',').map((part) => parsePositiveInt(part.trim(), flag, 10_000));
  return [...new Set(levels)].sort((a, b) => a - b);
}

/** The base URL to test: http(s) only, without a trailing slash. */
export function parseBaseUrl(text: string | undefined, flag = 'url'): URL {
  if (text === undefined)
    throw new FlagError(`--${flag} is required (the Inkstone to test, e.g. http://127.0.0.1:3000).`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new FlagError(`--${flag}: "${text}" is not a URL.`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new FlagError(`--${flag}: only http and https URLs can be tested.`);
  url.pathname = url.pathname.replace(/\/+$/, '');
  url.search = '';
  url.hash = '';
  return url;
}

/** `bench-results/<timestamp>/` under the working directory, unless --out names one. */
export function defaultOutDir(startedAt: Date): string {
  return `bench-results/${startedAt.toISOString().replace(/[:.]/g, '-')}`;
}

/** The command as run, for results.json, with secrets (passwords, tokens) starred out. */
export function commandLine(test: string, args: readonly string[]): string {
  const secret = /^--(?:password|admin-password|metrics-token)$/;
  const shown = args.map((arg, i) => {
    if (/^--(?:password|admin-password|metrics-token)=/.test(arg))
      return `${arg.slice(0, arg.indexOf('=') + 1)}***`;
    return i > 0 && secret.test(args[i - 1]!) ? '***' : arg;
  });
  return ['inkstone', 'bench', test, ...shown].join(' ');
}

/**
 * A test's command line: its options parsed (a bad flag prints the message and the help, and
 * exits 2), `--help` printed, or the test run with them.
 */
export async function runParsed<O>(
  args: string[],
  help: string,
  parse: (args: string[]) => O | 'help' | Promise<O | 'help'>,
  run: (options: O) => Promise<number>,
): Promise<number> {
  let parsed: O | 'help';
  try {
    parsed = await parse(args);
  } catch (error) {
    if (!(error instanceof FlagError)) throw error;
    console.error(`${error.message}\n\n${help}`);
    return 2;
  }
  if (parsed === 'help') {
    console.log(help);
    return 0;
  }
  return run(parsed);
}
