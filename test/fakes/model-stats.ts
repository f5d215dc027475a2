// What the fake model server remembers, for tests to assert on.
import { type IncomingHttpHeaders } from 'node:http';
import { type Fault } from './model-faults.js';
import { type ProtocolName } from './model-protocols.js';

export type RequestOutcome =
  | 'received'
  | 'queued'
  | 'generating'
  | 'completed' // the answer and its final line were sent (or all but the terminator, on request)
  | 'error-line' // errorLine: an error payload ended a 200 stream
  | 'filtered' // contentFilter after some tokens
  | 'rejected' // an error status
  | 'busy' // 503: the queue was full
  | 'reset' // resetBeforeHeaders or downFor
  | 'cut'
  | 'stalled'
  | 'hung' // noResponse
  | 'aborted'; // the client left while queued or generating

export interface FakeRequestRecord {
  index: number;
  method: string;
  path: string;
  protocol: ProtocolName;
  headers: IncomingHttpHeaders;
  /** The client's port: the same for requests that came on one keep-alive connection. */
  clientPort?: number;
  /** Parsed JSON, or the raw text when it did not parse. */
  body: unknown;
  model?: string;
  stream?: boolean;
  faults: Fault[];
  status?: number;
  outcome: RequestOutcome;
  /** The client closed the connection before the server ended the response. */
  aborted: boolean;
  /** Content tokens produced (sent, for a stream) and their text. */
  tokens: number;
  text: string;
  receivedAt: number;
  startedAt?: number;
  firstTokenAt?: number;
  endedAt?: number;
}

export interface FakeModelStats {
  /** False while down (downFor, down()) and after close(). */
  up: boolean;
  /** Requests per path, every method and endpoint, e.g. calls['/api/chat']. */
  calls: Record<string, number>;
  /** Chat requests not yet closed, whatever their state. */
  open: number;
  /** Holding a slot (generating or stalled). */
  inFlight: number;
  maxInFlight: number;
  queued: number;
  maxQueued: number;
  busyRejections: number;
  requests: FakeRequestRecord[];
}
