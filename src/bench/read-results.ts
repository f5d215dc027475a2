// Reads a results.json back (for `inkstone bench report` and `compare`) and checks it against
// the inkstone-bench/1 schema before anything trusts it: a report drawn from a file with a
// missing p99 would show a blank chart, and a comparison would call it "0 ms, 100% better".
// Errors name the field by its path in the file (`sections[2].levels[0].endpoints[1].latency.p99`).
// Fields the schema does not know are allowed, so a newer writer's additions do not break an
// older reader; a different schema string is refused.
import { readFileSync } from 'node:fs';
import { type BenchResults, RESULTS_SCHEMA, type Section } from './results.js';

export class ResultsFileError extends Error {
  constructor(
    readonly file: string,
    /** The bad field's path in the file, '' when the file itself is the problem. */
    readonly field: string,
    message: string,
  ) {
    super(`${file}: ${field ? `${field} ${message}` : message}`);
    this.name = 'ResultsFileError';
  }
}

/** Reads and validates one results file; throws ResultsFileError naming the bad field. */
export function readResults(path: string): BenchResults {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ResultsFileError(path, '', `cannot be read (${(error as Error).message})`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new ResultsFileError(path, '', `is not JSON (${(error as Error).message})`);
  }
  return parseResults(data, path);
}

/** Validates parsed JSON as BenchResults; `file` names it in errors. */
export function parseResults(data: unknown, file = 'results'): BenchResults {
  const fail = (field: string, message: string): never => {
    throw new ResultsFileError(file, field, message);
  };
  const check = new Checker(fail);
  const root = check.object(data, '');
  const schema = root['schema'];
  if (schema !== RESULTS_SCHEMA)
    fail(
      'schema',
      `is ${JSON.stringify(schema ?? null)}, expected "${RESULTS_SCHEMA}" (is this an inkstone bench results file?)`,
    );
  check.string(root, 'startedAt', '');
  if (Number.isNaN(Date.parse(root['startedAt'] as string))) fail('startedAt', 'is not an ISO date');
  check.string(root, 'inkstoneVersion', '');
  check.optionalString(root, 'targetVersion', '');
  check.string(root, 'url', '');
  check.string(root, 'command', '');
  const machine = check.object(root['machine'], 'machine');
  for (const key of ['hostname', 'platform', 'arch', 'cpuModel', 'node'])
    check.string(machine, key, 'machine');
  check.number(machine, 'cpus', 'machine');
  check.number(machine, 'memoryBytes', 'machine');
  const load = check.object(machine['loadAverage'], 'machine.loadAverage');
  check.numbers(load, 'start', 'machine.loadAverage', 3);
  check.numbers(load, 'end', 'machine.loadAverage', 3);
  const sections = check.array(root['sections'], 'sections');
  sections.forEach((section, i) => checkSection(check, section, `sections[${i}]`));
  return data as BenchResults;
}

function checkSection(check: Checker, value: unknown, at: string): void {
  const section = check.object(value, at);
  const kind = section['kind'] as Section['kind'];
  switch (kind) {
    case 'load':
      return checkLoad(check, section, at);
    case 'cache':
      return checkCache(check, section, at);
    case 'concurrency':
      return checkConcurrency(check, section, at);
    case 'ratio':
      return checkRatio(check, section, at);
    default:
      check.fail(
        `${at}.kind`,
        `is ${JSON.stringify(kind ?? null)}, expected load, cache, concurrency or ratio`,
      );
  }
}

function checkLoad(check: Checker, section: Fields, at: string): void {
  const settings = check.object(section['settings'], `${at}.settings`);
  check.number(settings, 'users', `${at}.settings`);
  check.number(settings, 'durationS', `${at}.settings`);
  check.numbers(settings, 'thinkMs', `${at}.settings`, 2);
  const weights = check.object(settings['weights'], `${at}.settings.weights`);
  for (const name of Object.keys(weights)) check.number(weights, name, `${at}.settings.weights`);
  check.optionalString(settings, 'scenarioFile', `${at}.settings`);
  check.number(section, 'elapsedS', at);
  check.boolean(section, 'interrupted', at);
  checkEndpoints(check, section['endpoints'], `${at}.endpoints`);
  checkNotes(check, section, at);
  check.array(section['timeline'], `${at}.timeline`).forEach((value, i) => {
    const point = check.object(value, `${at}.timeline[${i}]`);
    for (const key of ['t', 'requests', 'errors', 'p50', 'p99'])
      check.number(point, key, `${at}.timeline[${i}]`);
  });
}

function checkCache(check: Checker, section: Fields, at: string): void {
  const settings = check.object(section['settings'], `${at}.settings`);
  check.number(settings, 'warmRequests', `${at}.settings`);
  check.boolean(section, 'interrupted', at);
  check.optionalString(section, 'metricsNote', at);
  checkNotes(check, section, at);
  check.array(section['pages'], `${at}.pages`).forEach((value, i) => {
    const where = `${at}.pages[${i}]`;
    const page = check.object(value, where);
    check.string(page, 'endpoint', where);
    check.string(page, 'label', where);
    check.latency(page, 'cold', where);
    check.latency(page, 'warm', where);
    check.number(page, 'speedup', where);
    for (const key of ['serverHitRate', 'serverHits', 'serverMisses']) check.numberOrNull(page, key, where);
    if (page['ttftCold'] !== undefined) check.latency(page, 'ttftCold', where);
    if (page['ttftWarm'] !== undefined) check.latency(page, 'ttftWarm', where);
    check.optionalString(page, 'coldMeaning', where);
  });
}

function checkConcurrency(check: Checker, section: Fields, at: string): void {
  const settings = check.object(section['settings'], `${at}.settings`);
  check.numbers(settings, 'levels', `${at}.settings`);
  check.number(settings, 'durationPerLevelS', `${at}.settings`);
  check.number(settings, 'errorThreshold', `${at}.settings`);
  check.boolean(section, 'interrupted', at);
  checkNotes(check, section, at);
  check.array(section['levels'], `${at}.levels`).forEach((value, i) => {
    const where = `${at}.levels[${i}]`;
    const level = check.object(value, where);
    check.number(level, 'level', where);
    check.boolean(level, 'stoppedEarly', where);
    check.number(level, 'elapsedS', where);
    checkEndpoints(check, level['endpoints'], `${where}.endpoints`);
  });
}

function checkRatio(check: Checker, section: Fields, at: string): void {
  check.string(section, 'bench', at);
  check.string(section, 'generator', at);
  check.array(section['rows'], `${at}.rows`).forEach((value, i) => {
    const where = `${at}.rows[${i}]`;
    const row = check.object(value, where);
    check.string(row, 'group', where);
    check.string(row, 'target', where);
    check.number(row, 'throughput', where);
    check.latency(row, 'latency', where);
    check.numberOrNull(row, 'ratio', where);
    check.optionalString(row, 'goal', where);
    if (row['pass'] !== undefined) check.boolean(row, 'pass', where);
    check.number(row, 'errors', where);
  });
  checkNotes(check, section, at, true);
}

/** Notes for people: required on ratio sections, optional on the others. */
function checkNotes(check: Checker, section: Fields, at: string, required = false): void {
  if (!required && section['notes'] === undefined) return;
  check.array(section['notes'], `${at}.notes`).forEach((note, i) => {
    if (typeof note !== 'string') check.fail(`${at}.notes[${i}]`, describe(note, 'a string'));
  });
}

function checkEndpoints(check: Checker, value: unknown, at: string): void {
  check.array(value, at).forEach((item, i) => {
    const where = `${at}[${i}]`;
    const endpoint = check.object(item, where);
    check.string(endpoint, 'endpoint', where);
    check.string(endpoint, 'label', where);
    for (const key of ['requests', 'ok', 'throughput', 'errorRate']) check.number(endpoint, key, where);
    const errors = check.object(endpoint['errors'], `${where}.errors`);
    for (const kind of Object.keys(errors)) check.number(errors, kind, `${where}.errors`);
    check.latency(endpoint, 'latency', where);
    if (endpoint['ttft'] !== undefined) check.latency(endpoint, 'ttft', where);
    if (endpoint['total'] !== undefined) check.latency(endpoint, 'total', where);
  });
}

type Fields = Record<string, unknown>;

const LATENCY_KEYS = ['n', 'min', 'mean', 'p50', 'p90', 'p95', 'p99', 'max'] as const;

/** Type checks that throw through `fail` with the field's path. */
class Checker {
  constructor(readonly fail: (field: string, message: string) => never) {}

  private at(parent: string, key: string): string {
    return parent ? `${parent}.${key}` : key;
  }

  object(value: unknown, at: string): Fields {
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      this.fail(at, at ? 'must be an object' : 'must hold a JSON object');
    return value as Fields;
  }

  array(value: unknown, at: string): unknown[] {
    if (!Array.isArray(value)) this.fail(at, 'must be an array');
    return value as unknown[];
  }

  string(fields: Fields, key: string, parent: string): void {
    if (typeof fields[key] !== 'string') this.fail(this.at(parent, key), describe(fields[key], 'a string'));
  }

  optionalString(fields: Fields, key: string, parent: string): void {
    if (fields[key] !== undefined) this.string(fields, key, parent);
  }

  boolean(fields: Fields, key: string, parent: string): void {
    if (typeof fields[key] !== 'boolean')
      this.fail(this.at(parent, key), describe(fields[key], 'true or false'));
  }

  // JSON cannot hold NaN or Infinity, but a hand-edited file can hold "12" or null.
  number(fields: Fields, key: string, parent: string): void {
    const value = fields[key];
    if (typeof value !== 'number' || !Number.isFinite(value))
      this.fail(this.at(parent, key), describe(value, 'a number'));
  }

  numberOrNull(fields: Fields, key: string, parent: string): void {
    if (fields[key] !== null) this.number(fields, key, parent);
  }

  numbers(fields: Fields, key: string, parent: string, length?: number): void {
    const at = this.at(parent, key);
    const list = this.array(fields[key], at);
    if (length !== undefined && list.length !== length) this.fail(at, `must hold ${length} numbers`);
    list.forEach((value, i) => {
      if (typeof value !== 'number' || !Number.isFinite(value))
        this.fail(`${at}[${i}]`, describe(value, 'a number'));
    });
  }

  latency(fields: Fields, key: string, parent: string): void {
    const at = this.at(parent, key);
    const latency = this.object(fields[key], at);
    for (const name of LATENCY_KEYS) this.number(latency, name, at);
  }
}

function describe(value: unknown, expected: string): string {
  if (value === undefined) return `is missing (expected ${expected})`;
  return `must be ${expected}, not ${JSON.stringify(value)}`;
}
