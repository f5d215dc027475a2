// The failures the fake model server can act out, and which of them a given request gets.
import { type ProtocolName } from './model-protocols.js';

/**
 * "n tokens" positions count content tokens already sent: `cutAfter(0)` cuts before the
 * first one; a position past the answer's end acts just before the final line/terminator.
 */
export type Fault =
  /** 429, with `Retry-After: <seconds>` only when given. */
  | { type: 'status429'; retryAfterSeconds?: number }
  /** 500; as a standing `fault` it fires on one request only, then disarms. */
  | { type: 'status500Once' }
  /** 503 on every request it applies to (Ollama's "server busy" text / OpenAI "overloaded"). */
  | { type: 'status503'; retryAfterSeconds?: number }
  /** The body is read, then the socket is reset: no status line at all. */
  | { type: 'resetBeforeHeaders' }
  /** Accepted and never answered; ends only when the client (or close()) hangs up. */
  | { type: 'noResponse' }
  /** Overrides ttftMs for this request. */
  | { type: 'slowFirstToken'; ms: number }
  /** After n tokens the connection is closed mid-body (no terminator, no final chunk). */
  | { type: 'cutAfter'; tokens: number }
  /** After n tokens nothing more is sent; the connection and the slot stay held until the client leaves. */
  | { type: 'stallAfter'; tokens: number }
  /** One unparseable line after n tokens (default 1); the stream then goes on complete. */
  | { type: 'malformedLine'; afterTokens?: number }
  /** Ollama: no `done:true` line. OpenAI: finish chunk and usage are sent, `data: [DONE]` is not. */
  | { type: 'missingTerminator' }
  /** Status 200, then after n tokens (default 1) an error payload, and the stream ends. */
  | { type: 'errorLine'; afterTokens?: number; message?: string }
  /** 400 context-length error (also automatic when the prompt exceeds `contextLength`). */
  | { type: 'contextLength' }
  /**
   * Without `afterTokens`: 400 (OpenAI code `content_filter`, Ollama an error naming it).
   * With it: n tokens, then OpenAI `finish_reason: "content_filter"` / an Ollama error line.
   */
  | { type: 'contentFilter'; reason?: string; afterTokens?: number }
  /** This request's socket is reset and the listener closed; it reopens on the same port after ms. Fires once as a standing `fault`. */
  | { type: 'downFor'; ms: number }
  /** A request ending with an assistant message (a prefill) gets 400; others are served. */
  | { type: 'refusePrefill' };

export type FaultType = Fault['type'];

/** One request's faults: none, one, or several at once (e.g. refusePrefill with cutAfter). */
export type FaultSpec = Fault | readonly Fault[] | null | undefined;

export interface FaultCall {
  /** 0 for the first chat request since start (or resetStats), 1 for the next, … */
  index: number;
  path: string;
  protocol: ProtocolName;
  /** The parsed JSON body (undefined when it did not parse). */
  body: unknown;
}

export type FaultFn = (call: FaultCall) => FaultSpec;

const FIRE_ONCE = new Set<FaultType>(['status500Once', 'downFor']);

function flat(spec: FaultSpec): Fault[] {
  if (!spec) return [];
  return Array.isArray(spec) ? [...(spec as readonly Fault[])] : [spec as Fault];
}

/**
 * The next queued entry (each chat request consumes one, in order) plus whatever the standing
 * `fault` says, less the fire-once faults already `spent`: the server marks `status500Once`
 * and `downFor` spent when it acts on them, so a standing one fires once (and not on a
 * request where another fault, say a queued 429, took precedence).
 */
export function pickFaults(
  queue: FaultSpec[],
  standing: FaultSpec | FaultFn,
  call: FaultCall,
  spent: WeakSet<Fault>,
): Fault[] {
  const picked = flat(queue.shift());
  for (const fault of flat(typeof standing === 'function' ? standing(call) : standing)) {
    if (!(FIRE_ONCE.has(fault.type) && spent.has(fault))) picked.push(fault);
  }
  return picked;
}

export function findFault<T extends FaultType>(
  faults: readonly Fault[],
  type: T,
): Extract<Fault, { type: T }> | undefined {
  return faults.find((fault): fault is Extract<Fault, { type: T }> => fault.type === type);
}
