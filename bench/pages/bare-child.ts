// Child process: the limit. A bare node:http server that answers every request with the
// bytes Inkstone sent for its home page (same body, same content type), and nothing else.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { serveBare } from '../ai/ipc.js';

const body = readFileSync(process.env.BARE_BODY_FILE ?? '');
const type = process.env.BARE_CONTENT_TYPE ?? 'text/html; charset=utf-8';
// The control for the latency tail: the same server spending this much CPU on each request
// (Inkstone's measured cost), synchronously, so it saturates at Inkstone's rate.
const burnMs = Number(process.env.BARE_BURN_MS ?? 0);

const server = createServer((_request, response) => {
  if (burnMs > 0) {
    const until = performance.now() + burnMs;
    while (performance.now() < until);
  }
  response.writeHead(200, { 'content-type': type, 'content-length': body.length });
  response.end(body);
});
await serveBare(server, 'the bare server');
