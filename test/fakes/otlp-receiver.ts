// A small OpenTelemetry collector for tests: accepts OTLP/HTTP trace exports in JSON (what
// @opentelemetry/exporter-trace-otlp-http sends) on POST /v1/traces, and keeps the spans.
//
//     const otlp = await startOtlpReceiver();
//     // … app built with OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url …
//     const [span] = await otlp.waitFor((s) => s.name === 'GET /', 1);
//     expect(span.attributes['http.response.status_code']).toBe(200);
//
// Protobuf (the -proto exporter) is refused with 415, so a change of encoding fails loudly
// rather than as "no spans". Gzip bodies are accepted (OTEL_EXPORTER_OTLP_COMPRESSION=gzip).
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { gunzipSync } from 'node:zlib';

export interface ReceivedEvent {
  name: string;
  timeUnixNano: bigint;
  attributes: Record<string, unknown>;
}

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** Empty for a root span. */
  parentSpanId: string;
  name: string;
  /** OTLP's numbering: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: Record<string, unknown>;
  events: ReceivedEvent[];
  /** 0 unset, 1 ok, 2 error. */
  statusCode: number;
  /** The resource's attributes (service.name, …). */
  resource: Record<string, unknown>;
}

export interface OtlpReceiver {
  /** The base URL, for OTEL_EXPORTER_OTLP_ENDPOINT. */
  url: string;
  spans: ReceivedSpan[];
  /** POSTs received, and the content types they came with. */
  requests: { path: string; contentType: string }[];
  /** Resolves with the matching spans once at least `count` arrived; rejects after `timeoutMs`. */
  waitFor(
    match: (span: ReceivedSpan) => boolean,
    count?: number,
    timeoutMs?: number,
  ): Promise<ReceivedSpan[]>;
  reset(): void;
  close(): Promise<void>;
}

/** OTLP/JSON's AnyValue (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding) as a plain value. */
function plain(value: Record<string, unknown> | undefined): unknown {
  if (!value) return undefined;
  if ('stringValue' in value) return value.stringValue;
  if ('boolValue' in value) return value.boolValue;
  // int64 is a decimal string in OTLP/JSON, though some encoders send a number.
  if ('intValue' in value) return Number(value.intValue);
  if ('doubleValue' in value) return Number(value.doubleValue);
  if ('arrayValue' in value) {
    const values = (value.arrayValue as { values?: Record<string, unknown>[] }).values ?? [];
    return values.map(plain);
  }
  return undefined;
}

type KeyValue = { key: string; value?: Record<string, unknown> };

function attributesOf(list: KeyValue[] | undefined): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map(({ key, value }) => [key, plain(value)]));
}

const nanos = (value: unknown) => BigInt(String(value ?? 0));

interface JsonSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind?: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes?: KeyValue[];
  events?: { name: string; timeUnixNano: string; attributes?: KeyValue[] }[];
  status?: { code?: number };
}

interface ExportRequest {
  resourceSpans?: {
    resource?: { attributes?: KeyValue[] };
    scopeSpans?: { spans?: JsonSpan[] }[];
  }[];
}

function spansOf(request: ExportRequest): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  for (const { resource, scopeSpans } of request.resourceSpans ?? []) {
    const resourceAttributes = attributesOf(resource?.attributes);
    for (const scope of scopeSpans ?? []) {
      for (const span of scope.spans ?? []) {
        spans.push({
          traceId: span.traceId,
          spanId: span.spanId,
          parentSpanId: span.parentSpanId ?? '',
          name: span.name,
          kind: span.kind ?? 0,
          startTimeUnixNano: nanos(span.startTimeUnixNano),
          endTimeUnixNano: nanos(span.endTimeUnixNano),
          attributes: attributesOf(span.attributes),
          events: (span.events ?? []).map((event) => ({
            name: event.name,
            timeUnixNano: nanos(event.timeUnixNano),
            attributes: attributesOf(event.attributes),
          })),
          statusCode: span.status?.code ?? 0,
          resource: resourceAttributes,
        });
      }
    }
  }
  return spans;
}

async function bodyOf(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks);
  return req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
}

/** `port`: a given one (a collector coming back where it was); default: any free port. */
export async function startOtlpReceiver(options: { port?: number } = {}): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const requests: OtlpReceiver['requests'] = [];
  const waiters = new Set<() => void>();
  const sockets = new Set<Socket>();

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const contentType = String(req.headers['content-type'] ?? '');
    void (async () => {
      if (req.method !== 'POST' || path !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      requests.push({ path, contentType });
      if (!contentType.startsWith('application/json')) {
        res.writeHead(415, { 'content-type': 'text/plain' }).end('this test receiver reads OTLP/JSON only');
        return;
      }
      try {
        spans.push(...spansOf(JSON.parse((await bodyOf(req)).toString('utf8')) as ExportRequest));
      } catch (error) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end(String(error));
        return;
      }
      // An empty ExportTraceServiceResponse: everything accepted.
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      for (const wake of waiters) wake();
    })();
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    requests,
    waitFor(match, count = 1, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = spans.filter(match);
          if (found.length < count) return false;
          finish();
          resolve(found);
          return true;
        };
        const timer = setTimeout(() => {
          finish();
          const names = spans.map((s) => s.name).join(', ');
          reject(new Error(`otlp receiver: waitFor timed out after ${timeoutMs} ms; spans: ${names}`));
        }, timeoutMs);
        const finish = () => {
          clearTimeout(timer);
          waiters.delete(wake);
        };
        const wake = () => void check();
        waiters.add(wake);
        check();
      });
    },
    reset() {
      spans.length = 0;
      requests.length = 0;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
