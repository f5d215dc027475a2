import { createHmac, randomUUID } from 'node:crypto';
import { promises as dns } from 'node:dns';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Context, Span } from '@opentelemetry/api';
import { type Clock, systemClock } from '../../clock.js';
import { outgoingTraceparent } from '../../tracing/propagation.js';
import { formatTraceparent } from '../../tracing/traceparent.js';
import type { Tracing } from '../../tracing/tracing.js';
import { retryAfterMs } from './providers/http.js';
import { type Answer, DestinationGuard, type Lookup, postPinned } from './webhook-guard.js';

/*
 * ## Webhooks
 *
 * A generation job submitted with a `callbackUrl` is POSTed to that URL when it finishes:
 *
 *     Content-Type: application/json
 *     User-Agent: Inkstone-Webhooks
 *     Inkstone-Delivery: 6f1c2a4e-…   one id per event (a job's: its id), the same on every retry: ignore ids you have seen
 *     Inkstone-Signature: t=1767225600,v1=5257a869e7ec…   (64 hex digits)
 *     traceparent: 00-4bf92f35…-00f067aa…-01   the W3C trace of the request that submitted the job;
 *                  with trace export on, its parent id is this attempt's own exported span
 *
 * `t` is when this attempt was sent, in Unix seconds; `v1` is the hex HMAC-SHA256 of `t`, a
 * dot and the raw request body, keyed with your webhook secret (the whole `whsec_…` string).
 * To verify a request:
 *
 * 1. Read the body as the exact bytes received, before any JSON parsing.
 * 2. Split the header on `,` and each part on its first `=`; take `t` and every `v1`.
 * 3. Compute HMAC-SHA256(secret, `<t>.<body>`) as hex and compare it with each `v1` in
 *    constant time (`crypto.timingSafeEqual`); one must match.
 * 4. Refuse a `t` more than 300 seconds from your clock: a captured request cannot be
 *    replayed later, and every retry is signed afresh, so a slow retry still passes.
 *
 * ```js
 * import { createHmac, timingSafeEqual } from 'node:crypto';
 *
 * function verifyInkstone(rawBody, header, secret, toleranceSeconds = 300) {
 *   const parts = header.split(',').map((part) => [part.slice(0, part.indexOf('=')), part.slice(part.indexOf('=') + 1)]);
 *   const t = Number(parts.find(([key]) => key === 't')?.[1]);
 *   if (!Number.isInteger(t) || Math.abs(Date.now() / 1000 - t) > toleranceSeconds) return false;
 *   const expected = createHmac('sha256', secret).update(`${t}.${rawBody}`).digest();
 *   return parts.some(([key, value]) => {
 *     const given = Buffer.from(value, 'hex');
 *     return key === 'v1' && given.length === expected.length && timingSafeEqual(given, expected);
 *   });
 * }
 * ```
 *
 * Answer with any 2xx once the event is stored. 408, 429, 5xx, timeouts (`WEBHOOK_TIMEOUT_MS`)
 * and network errors are retried with exponential backoff, up to `WEBHOOK_ATTEMPTS` in all,
 * honouring `Retry-After` up to a minute; any other status is final. Up to 3 redirects are
 * followed, each re-sending the same POST. Private, loopback, link-local and other internal
 * addresses are refused, before connecting and on every redirect, unless listed in
 * `WEBHOOK_ALLOW_HOSTS`.
 */

export const SIGNATURE_HEADER = 'Inkstone-Signature';
export const DELIVERY_HEADER = 'Inkstone-Delivery';
const MAX_URL_LENGTH = 2000;
const MAX_REDIRECTS = 3;

/** The `Inkstone-Signature` value: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. */
export function signWebhook(body: string, timestamp: number, secret: string): string {
  const digest = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
  return `t=${timestamp},v1=${digest}`;
}

/**
 * A user's webhook secret, derived rather than stored: the same after a restart, different
 * for every user, and unguessable without SESSION_SECRET. Changing SESSION_SECRET changes
 * every user's webhook secret too.
 */
export function webhookSecret(serverSecret: string, userId: number): string {
  const key = createHmac('sha256', serverSecret).update(`inkstone webhook secret\0user ${userId}`);
  return `whsec_${key.digest('base64url')}`;
}

export interface WebhookSenderOptions {
  /** WEBHOOK_ALLOW_HOSTS: `host`, `host:port`, IPs or CIDRs that may be private. */
  allowHosts: readonly string[];
  /** For one attempt, redirects and DNS included. */
  timeoutMs: number;
  /** In all, the first included. */
  attempts: number;
  baseDelayMs: number;
  /** The longest wait between attempts, a `Retry-After` included. */
  maxDelayMs: number;
  lookup?: Lookup;
  random?: () => number;
  clock?: Clock;
  /** Span export: a client span per attempt, the parent sent in `traceparent`; absent: none. */
  tracing?: Pick<Tracing, 'startWebhook' | 'endWebhook'>;
}

export interface DeliveryAttempt {
  attempt: number;
  /** When the attempt started, ISO-8601 UTC. */
  at: string;
  /** The last HTTP status received (a redirect's, if the redirect was refused). */
  status: number | null;
  /** What went wrong when the status does not say it: refused, timed out, network error. */
  error: string | null;
  durationMs: number;
}

export interface DeliveryResult {
  delivered: boolean;
  attempts: number;
}

type Outcome =
  | { kind: 'delivered'; status: number; error: null }
  | { kind: 'retry'; status: number | null; error: string | null; retryAfterMs?: number }
  | { kind: 'final'; status: number | null; error: string | null };

const defaultLookup: Lookup = (hostname) => dns.lookup(hostname, { all: true });

export class WebhookSender {
  private readonly guard: DestinationGuard;
  private readonly lookup: Lookup;
  private readonly clock: Clock;

  /** Throws when an allowHosts entry cannot be read (loadConfig reports it at boot first). */
  constructor(private readonly options: WebhookSenderOptions) {
    this.guard = new DestinationGuard(options.allowHosts);
    this.lookup = options.lookup ?? defaultLookup;
    this.clock = options.clock ?? systemClock;
  }

  /** At submission: what is wrong with this callback URL, as a sentence, or null. No DNS. */
  check(url: string): string | null {
    const parsed = parseUrl(url);
    if (typeof parsed === 'string') return parsed;
    const refusal = this.guard.literalRefusal(parsed);
    return refusal ? `The URL is refused: ${refusal}.` : null;
  }

  /**
   * POSTs the payload until a 2xx, a final answer or the last attempt, reporting every
   * attempt to onAttempt. Resolves for every delivery outcome; rejects only if onAttempt does.
   */
  async deliver(
    url: string,
    payload: object,
    secret: string,
    onAttempt: (attempt: DeliveryAttempt) => Promise<void> | void,
    signal?: AbortSignal,
    /** The event's delivery id; the same when one event is reported again. */
    id: string = randomUUID(),
    /** The job's trace, carried on as `traceparent`; a trace of its own when absent. */
    trace?: Context,
  ): Promise<DeliveryResult> {
    const body = JSON.stringify(payload);
    for (let attempt = 1; ; attempt++) {
      if (signal?.aborted) return { delivered: false, attempts: attempt - 1 };
      const at = this.clock.now();
      const started = performance.now();
      const outcome = await this.attempt(url, body, secret, id, at, attempt, signal, trace);
      const durationMs = Math.round(performance.now() - started);
      await onAttempt({
        attempt,
        at: at.toISOString(),
        status: outcome.status,
        error: outcome.error,
        durationMs,
      });
      if (outcome.kind === 'delivered') return { delivered: true, attempts: attempt };
      if (outcome.kind === 'final' || attempt >= this.options.attempts)
        return { delivered: false, attempts: attempt };
      try {
        await sleep(this.backoff(attempt, outcome.retryAfterMs), undefined, { signal });
      } catch {
        return { delivered: false, attempts: attempt };
      }
    }
  }

  /** Full jitter: a random wait up to base·2^(attempt−1); a Retry-After wins. Both capped. */
  private backoff(attempt: number, retryAfter?: number): number {
    const cap = this.options.maxDelayMs;
    if (retryAfter !== undefined) return Math.min(cap, retryAfter);
    return (
      (this.options.random ?? Math.random)() * Math.min(cap, this.options.baseDelayMs * 2 ** (attempt - 1))
    );
  }

  /** One attempt, under a span of its own when spans are exported. */
  private async attempt(
    first: string,
    body: string,
    secret: string,
    id: string,
    at: Date,
    attempt: number,
    outer?: AbortSignal,
    trace?: Context,
  ): Promise<Outcome> {
    const { tracing } = this.options;
    // `first` parses: deliver() is only called with URLs check() accepted.
    const target = parseUrl(first);
    const span =
      tracing && typeof target !== 'string'
        ? tracing.startWebhook({ url: target, attempt, deliveryId: id })
        : undefined;
    const outcome = await this.send(first, body, secret, id, at, span, outer, trace);
    if (span) tracing!.endWebhook(span, outcome.status, outcome.error);
    return outcome;
  }

  /**
   * The POST and up to MAX_REDIRECTS redirects, each hop checked, in one timeout; every hop
   * carries the attempt's span as the parent.
   */
  private async send(
    first: string,
    body: string,
    secret: string,
    id: string,
    at: Date,
    span: Span | undefined,
    outer?: AbortSignal,
    trace?: Context,
  ): Promise<Outcome> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.options.timeoutMs);
    const cancel = () => controller.abort();
    outer?.addEventListener('abort', cancel, { once: true });
    const call = span?.spanContext();
    const headers = {
      'Content-Type': 'application/json',
      'Content-Length': String(Buffer.byteLength(body)),
      'User-Agent': 'Inkstone-Webhooks',
      [DELIVERY_HEADER]: id,
      [SIGNATURE_HEADER]: signWebhook(body, Math.floor(at.getTime() / 1000), secret),
      // The trace of the request that submitted the job, so a receiver can join its logs to ours;
      // the parent is this attempt's span when one is made, so the receiver's parent exists.
      traceparent: call
        ? formatTraceparent(call.traceId, call.spanId, call.traceFlags)
        : outgoingTraceparent(trace),
    };
    let url = first;
    let redirect: number | null = null;
    try {
      for (let hop = 0; ; hop++) {
        const where = hop ? `Refused redirect to ${url}` : 'Refused';
        const target = parseUrl(url);
        if (typeof target === 'string')
          return { kind: 'final', status: redirect, error: `${where}: ${target}` };
        const destination = await abortable(this.guard.resolve(target, this.lookup), controller.signal);
        if ('refused' in destination) {
          return { kind: 'final', status: redirect, error: `${where}: ${destination.refused}.` };
        }
        const answer = await postPinned(target, destination.addresses, headers, body, controller.signal);
        const location = answer.headers.location;
        if (![301, 302, 303, 307, 308].includes(answer.status) || !location) return classify(answer);
        if (hop === MAX_REDIRECTS) {
          return { kind: 'final', status: answer.status, error: `More than ${MAX_REDIRECTS} redirects.` };
        }
        try {
          url = new URL(location, target).toString();
        } catch {
          return { kind: 'final', status: answer.status, error: 'The redirect has an invalid Location.' };
        }
        redirect = answer.status;
      }
    } catch (error) {
      if (outer?.aborted) return { kind: 'final', status: null, error: 'Cancelled.' };
      if (controller.signal.aborted) {
        return { kind: 'retry', status: null, error: `Timed out after ${this.options.timeoutMs} ms.` };
      }
      return { kind: 'retry', status: null, error: (error as Error).message };
    } finally {
      clearTimeout(timer);
      outer?.removeEventListener('abort', cancel);
    }
  }
}

/** The URL, or what is wrong with its form as a sentence (the address is the guard's business). */
function parseUrl(url: string): URL | string {
  if (url.length > MAX_URL_LENGTH) return `The URL is longer than ${MAX_URL_LENGTH} characters.`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'The URL is not a valid absolute URL, such as https://example.com/hooks/inkstone.';
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    return `The URL must start with http:// or https:// (not ${parsed.protocol}).`;
  }
  if (parsed.username || parsed.password) {
    return 'The URL must not contain a user name or password (user:pass@); check the signature instead.';
  }
  return parsed.hostname ? parsed : 'The URL has no host.';
}

function classify({ status, headers }: Answer): Outcome {
  if (status >= 200 && status < 300) return { kind: 'delivered', status, error: null };
  if (status === 408 || status === 429 || status >= 500) {
    const value = headers['retry-after'];
    const retryAfter = value ? retryAfterMs(new Headers({ 'retry-after': value })) : undefined;
    return { kind: 'retry', status, error: null, retryAfterMs: retryAfter };
  }
  // Other 4xx, and 3xx that are not redirects: the receiver has answered; asking again would not change it.
  return { kind: 'final', status, error: null };
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new Error('aborted'));
  return new Promise((resolve, reject) => {
    const abort = () => reject(new Error('aborted'));
    signal.addEventListener('abort', abort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort));
  });
}
