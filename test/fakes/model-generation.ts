// One generation: the tokens of an answer written out on the schedule the settings ask for,
// with the stream faults (cut, stall, error line, filter, malformed line, missing terminator)
// acted out at their token positions.
import { type ServerResponse } from 'node:http';
import { type Fault, findFault } from './model-faults.js';
import { type Finish, type Protocol, type StreamMeta, type Usage, ollama } from './model-protocols.js';
import { type FakeRequestRecord, type RequestOutcome } from './model-stats.js';
import { type AnswerPlan } from './model-text.js';
import { sendJson } from './model-http.js';

const now = () => performance.now();
const ns = (ms: number) => Math.max(0, Math.round(ms * 1e6));

export interface Generation {
  res: ServerResponse;
  protocol: Protocol;
  meta: StreamMeta;
  plan: AnswerPlan;
  faults: Fault[];
  record: FakeRequestRecord;
  signal: AbortSignal;
  stream: boolean;
  ttftMs: number;
  gapMs: number;
  /** Closes the connection mid-body (the caller owns the socket and the bookkeeping). */
  cut: () => void;
  notify: () => void;
}

export async function generate(g: Generation): Promise<void> {
  const { res, protocol, meta, plan, faults, record, signal, stream, notify } = g;
  const n = plan.tokens.length;
  const at = (position: number | undefined) => (position === undefined ? undefined : Math.min(position, n));
  const cutAt = at(findFault(faults, 'cutAfter')?.tokens);
  const stallAt = at(findFault(faults, 'stallAfter')?.tokens);
  const malformed = findFault(faults, 'malformedLine');
  const malformedAt = at(malformed && (malformed.afterTokens ?? 1));
  const errorLine = findFault(faults, 'errorLine');
  const errorAt = at(errorLine && (errorLine.afterTokens ?? 1));
  const filter = findFault(faults, 'contentFilter');
  const filterAt = at(filter?.afterTokens);
  const ttft = findFault(faults, 'slowFirstToken')?.ms ?? g.ttftMs;
  const gap = g.gapMs;
  const begin = record.startedAt!;
  const sleep = sleeper(signal);
  const head = () => {
    if (res.headersSent) return;
    res.writeHead(200, { 'content-type': protocol.streamContentType, 'cache-control': 'no-cache' });
    record.status = 200;
  };
  const usage = (): Usage => {
    const end = now();
    const first = record.firstTokenAt ?? end;
    return {
      promptTokens: plan.promptTokens,
      completionTokens: record.tokens,
      loadNs: ns(begin - record.receivedAt),
      promptNs: ns(first - begin),
      evalNs: ns(end - first),
      totalNs: ns(end - record.receivedAt),
    };
  };
  const finishWith = (outcome: RequestOutcome, chunk: string) => {
    record.outcome = outcome;
    res.end(chunk);
  };

  if (stream && protocol.opening(meta)) {
    head();
    res.write(protocol.opening(meta));
  }
  for (let i = 0; i <= n; i++) {
    // Token i is due at begin + ttft + i·gap; the final line follows the last token at once.
    const wait = begin + ttft + Math.max(0, Math.min(i, n - 1)) * gap - now();
    // Node rounds a timer below 1 ms up to 1 ms; sending that much early is the smaller error.
    if (wait >= 1) await sleep(wait);
    if (signal.aborted) return;
    if (i === cutAt) return g.cut();
    if (i === stallAt) {
      record.outcome = 'stalled';
      notify();
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      return;
    }
    if (i === errorAt) {
      const message =
        errorLine?.message ?? 'an error was encountered while running the model: unexpected EOF';
      if (!stream) return sendFault(res, record, protocol.error('server_error', { message }));
      head();
      return finishWith('error-line', protocol.errorLine(meta, message));
    }
    if (i === filterAt) {
      const reason = filter?.reason ?? 'hate: high';
      if (!stream && protocol === ollama) {
        return sendFault(res, record, protocol.error('content_filter', { reason }));
      }
      if (!stream) {
        record.status = 200;
        record.outcome = 'filtered';
        return sendJson(res, 200, protocol.whole(meta, record.text, 'content_filter', usage()));
      }
      head();
      return finishWith('filtered', protocol.filtered(meta, reason, usage()));
    }
    if (stream && i === malformedAt) {
      head();
      res.write(protocol.malformedLine(meta));
    }
    if (i === n) break;
    const text = plan.tokens[i]!;
    record.tokens++;
    record.text += text;
    record.firstTokenAt ??= now();
    if (stream) {
      head();
      res.write(protocol.token(meta, text));
    }
    notify();
  }

  const finish: Finish = plan.finishReason;
  if (!stream) {
    record.status = 200;
    record.outcome = 'completed';
    const body = JSON.stringify(protocol.whole(meta, record.text, finish, usage()));
    // A malformed non-streaming answer: the body breaks off half-way.
    const text = malformedAt === undefined ? body : body.slice(0, Math.floor(body.length / 2));
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
    res.end(text);
    return;
  }
  head();
  const { tail, terminator } = protocol.closing(meta, finish, usage());
  finishWith('completed', findFault(faults, 'missingTerminator') ? tail : tail + terminator);
}

/**
 * A sleep that one abort wakes at once. Not timers/promises' setTimeout with a signal: that
 * adds and removes an abort listener for every token, a measurable cost at 1,000 streams;
 * here there is one listener per generation. The caller checks `signal.aborted` on waking.
 */
function sleeper(signal: AbortSignal): (ms: number) => Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let wake: (() => void) | undefined;
  signal.addEventListener(
    'abort',
    () => {
      clearTimeout(timer);
      wake?.();
    },
    { once: true },
  );
  return (ms) =>
    new Promise((resolve) => {
      if (signal.aborted) return resolve();
      wake = resolve;
      timer = setTimeout(resolve, ms);
    });
}

function sendFault(
  res: ServerResponse,
  record: FakeRequestRecord,
  error: { status: number; body: unknown },
): void {
  record.status = error.status;
  record.outcome = 'rejected';
  sendJson(res, error.status, error.body);
}
