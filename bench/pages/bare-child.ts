// Child process: the limit. A bare node:http server that answers every request with the
// bytes of Inkstone's page-cache hit on its home page (./bare-bytes.ts), and nothing else.
import { createServer } from 'node:http';
import { serveBare } from '../ai/ipc.js';
import { bareResponse } from './bare-bytes.js';

const { headers, body } = bareResponse();
// The control for the latency tail: the same server spending this much CPU on each request
// (Inkstone's measured cost), synchronously, so it saturates at Inkstone's rate.
const burnMs = Number(process.env.BARE_BURN_MS ?? 0);

const server = createServer((_request, response) => {
  if (burnMs > 0) {
    const until = performance.now() + burnMs;
    while (performance.now() < until);
  }
  response.writeHead(200, headers);
  response.end(body);
});
await serveBare(server, 'the bare server');
