import { randomFillSync } from 'node:crypto';

/**
 * W3C Trace Context's `traceparent` header (https://www.w3.org/TR/trace-context/#traceparent-header):
 * `version-traceid-parentid-flags` in lower-case hex, e.g.
 * `00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01`.
 */
export interface TraceParent {
  /** 32 hex digits, not all zero. */
  traceId: string;
  /** 16 hex digits, not all zero: the caller's span, the parent of ours. */
  spanId: string;
  /** The trace flags byte; bit 0 is "sampled". */
  flags: number;
}

// Version 00 is exactly 55 characters. A later version may append fields after the flags,
// which a version-00 reader must ignore; version ff is invalid by definition.
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const NO_TRACE = '0'.repeat(32);
const NO_SPAN = '0'.repeat(16);

/** The caller's trace position, or undefined when the header is absent or malformed. */
export function parseTraceparent(header: string | string[] | undefined): TraceParent | undefined {
  // A repeated header is malformed: which one to follow is not ours to guess.
  if (typeof header !== 'string') return undefined;
  const match = TRACEPARENT.exec(header.trim());
  if (!match) return undefined;
  const [, version, traceId = '', spanId = '', flags = '', rest] = match;
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (traceId === NO_TRACE || spanId === NO_SPAN) return undefined;
  return { traceId, spanId, flags: Number.parseInt(flags, 16) };
}

/** Always version 00, the only one this writes. */
export function formatTraceparent(traceId: string, spanId: string, flags: number): string {
  return `00-${traceId}-${spanId}-${(flags & 0xff).toString(16).padStart(2, '0')}`;
}

// Ids come from the OS's CSPRNG, 4 KiB at a time: one system call per ~170 ids rather than one
// each (a trace id is made for every request, traced or not).
const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let used = POOL_BYTES;

function randomHex(bytes: number): string {
  for (;;) {
    if (used + bytes > POOL_BYTES) {
      randomFillSync(pool);
      used = 0;
    }
    const hex = pool.toString('hex', used, used + bytes);
    used += bytes;
    // All zeros means "no id" in the header; 2^-64 at worst, but then draw again.
    if (!/^0+$/.test(hex)) return hex;
  }
}

export const newTraceId = (): string => randomHex(16);
export const newSpanId = (): string => randomHex(8);
