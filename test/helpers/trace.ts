import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from './app.js';

export const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** `bytes` random bytes as hex. */
export const hex = (bytes: number) =>
  Array.from({ length: bytes }, () =>
    Math.floor(Math.random() * 256)
      .toString(16)
      .padStart(2, '0'),
  ).join('');

/** A caller's trace position, as a tracing proxy in front would send it. */
export function callerTrace() {
  const traceId = hex(16);
  const spanId = hex(8);
  return { traceId, spanId, header: `00-${traceId}-${spanId}-01` };
}

/**
 * A webhook receiver that keeps each delivery's headers, answering each with the next status
 * of `answers` (then 200).
 */
export async function hookReceiver() {
  const received: IncomingHttpHeaders[] = [];
  const answers: number[] = [];
  const server: Server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      received.push(request.headers);
      // Retry-After 0: the sender's next attempt comes at once rather than after its backoff.
      response.writeHead(answers.shift() ?? 200, { 'retry-after': '0' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { received, answers, port, url: `http://127.0.0.1:${port}/hook`, close: () => server.close() };
}

/** Submits a generation job as `client`, in the caller's trace when `traceparent` is given. */
export function postJob(
  client: { request: Client['request']; csrf: string },
  body: Record<string, unknown>,
  traceparent?: string,
) {
  return client.request({
    method: 'POST',
    url: '/api/v1/ai/generations',
    headers: {
      'content-type': 'application/json',
      'x-csrf-token': client.csrf,
      ...(traceparent ? { traceparent } : {}),
    },
    payload: JSON.stringify(body),
  });
}
