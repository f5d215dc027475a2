import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { createRequire } from 'node:module';
import type { DestinationStream, LoggerOptions } from 'pino';

const GIVEN_ID = /^[\w.-]{1,64}$/;
// W3C Trace Context: version-traceid-parentid-flags, lower-case hex. Version ff is invalid and
// an all-zero trace id means "none" (https://www.w3.org/TR/trace-context/#traceparent-header).
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}/;
const NO_TRACE = '0'.repeat(32);

// A fresh request id: UUID-shaped, its first 28 characters drawn once (90 random bits from the
// CSPRNG) and its last 8 a counter, so unique within the process (a new head is drawn when the
// counter runs out) and, with overwhelming odds, across processes and restarts. Not a secret and
// not a capability: ids are for finding a request in the logs. Measured in a loop that writes the
// id into a header as Node does: ~160 ns against ~310 ns for randomUUID() (a string of twenty
// pieces, and a CSPRNG refill every 128 ids). The counter runs from 0x10000000 below 0x40000000:
// always eight hex digits, and a small integer (a double's arithmetic and hex formatting are slow).
const ID_COUNTER_FIRST = 0x1000_0000;
const ID_COUNTER_END = 0x4000_0000;
let idHead = '';
let idCounter = ID_COUNTER_END;

function freshId(): string {
  if (idCounter === ID_COUNTER_END) {
    idHead = randomUUID().slice(0, 28);
    idCounter = ID_COUNTER_FIRST;
  }
  return idHead + (idCounter++).toString(16);
}

/**
 * The request's id: the caller's X-Request-Id when it is a short plain token, else the trace id
 * of a W3C `traceparent` (so one id follows a request through a tracing proxy into our logs),
 * else a fresh one (above). Shared by Fastify's genReqId and the front door, so both answer alike.
 */
export function requestIdFrom(headers: IncomingHttpHeaders): string {
  const given = headers['x-request-id'];
  if (typeof given === 'string' && GIVEN_ID.test(given)) return given;
  const parent = headers.traceparent;
  if (typeof parent === 'string') {
    const match = TRACEPARENT.exec(parent);
    if (match && match[1] !== 'ff' && match[2] !== NO_TRACE) return match[2]!;
  }
  return freshId();
}

// What must never reach the log, even if a serializer or a careless `log.info({ request })`
// passes it on: credentials in headers, and the fields services name passwords, tokens and
// prompts. Fastify's own request serializer logs neither headers nor bodies; these paths are
// the second line. They are exact, which pino compiles into cheap property checks. A leading
// wildcard (`*.password`) would not be: pino runs it over every value it writes, the request
// id bound into each request's child logger included (~7 % of a signed-in page's allocations),
// so the same names deeper in a logged object are censored by redactNested instead.
const REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-csrf-token"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'password',
  'token',
  'prompt',
  'messages',
  'body',
];
const CENSOR = '[redacted]';
/** Field names censored at any depth of a logged object's plain objects and arrays. */
const NESTED_SECRETS = new Set(['password', 'token', 'prompt', 'messages']);
const NESTED_DEPTH = 6;

/**
 * A logged object with NESTED_SECRETS censored below its top level (pino's exact paths censor
 * the top level). Only plain objects and arrays are walked, never a class instance (a request,
 * an error): their serializers decide what they show. Copies only what it changes.
 */
export function redactNested(object: Record<string, unknown>): Record<string, unknown> {
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(object)) {
    const value = object[key];
    const clean = scrub(value, 1);
    if (clean !== value) (copy ??= { ...object })[key] = clean;
  }
  return copy ?? object;
}

function scrub(value: unknown, depth: number): unknown {
  if (value === null || typeof value !== 'object' || depth > NESTED_DEPTH) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const clean = scrub(value[i], depth + 1);
      if (clean !== value[i]) (copy ??= [...value])[i] = clean;
    }
    return copy ?? value;
  }
  const prototype = Object.getPrototypeOf(value) as unknown;
  if (prototype !== Object.prototype && prototype !== null) return value;
  const record = value as Record<string, unknown>;
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(record)) {
    const clean = NESTED_SECRETS.has(key) ? CENSOR : scrub(record[key], depth + 1);
    if (clean !== record[key]) (copy ??= { ...record })[key] = clean;
  }
  return copy ?? record;
}

export interface AppLoggerOptions {
  level: string;
  /** Where lines go (tests capture them); standard output when not given. */
  stream?: DestinationStream;
  /** Readable lines through pino-pretty rather than JSON (see prettyLogs). */
  pretty?: boolean;
}

/** pino's options for the app's logger: JSON (or pretty) at the configured level, secrets redacted. */
export function appLogger({
  level,
  stream,
  pretty,
}: AppLoggerOptions): LoggerOptions & { stream?: DestinationStream } {
  // Redaction happens before the stream: pretty lines hide the same fields as JSON ones.
  const destination = (pretty ? prettyStream(stream) : undefined) ?? stream;
  return {
    level,
    redact: { paths: REDACT, censor: CENSOR },
    formatters: { log: redactNested },
    ...(destination ? { stream: destination } : {}),
  };
}

/**
 * Whether the logs are pretty: only in development, where LOG_PRETTY decides if set and
 * otherwise a terminal on stdout does (piped to a file or a collector, it stays JSON).
 */
export function prettyLogs(env: string, logPretty: boolean | undefined, isTTY: boolean | undefined): boolean {
  return env === 'development' && (logPretty ?? isTTY === true);
}

type PinoPretty = (options: Record<string, unknown>) => DestinationStream;
let warnedMissing = false;

/**
 * pino-pretty writing to `destination` (stdout when not given), loaded only when asked for:
 * it is a devDependency, absent from a production install. Missing, the logs stay JSON and
 * one warning says why. In-process (a stream, not pino's worker-thread transport): the
 * lines of a request stay in order with everything else the process prints.
 */
export function prettyStream(
  destination?: DestinationStream,
  load: () => PinoPretty = () => createRequire(import.meta.url)('pino-pretty') as PinoPretty,
): DestinationStream | undefined {
  let pinoPretty: PinoPretty;
  try {
    pinoPretty = load();
  } catch (error) {
    if (!warnedMissing) {
      warnedMissing = true;
      process.emitWarning(
        `Pretty logs need pino-pretty (a devDependency), which could not be loaded (${(error as Error).message.split('\n')[0]}): logging JSON instead.`,
        { code: 'INKSTONE_LOG_PRETTY' },
      );
    }
    return undefined;
  }
  return pinoPretty({
    colorize: destination === undefined && process.stdout.isTTY === true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
    ...(destination ? { destination } : {}),
  });
}
