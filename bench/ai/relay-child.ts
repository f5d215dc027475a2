// Child process: the control for Inkstone's time-to-first-token overhead. A bare relay
// (node:http in, undici out, the model's stream piped back chunk by chunk, nothing else) on
// Inkstone's CPU: what one more process between the client and the model costs on this
// machine before any gateway does any work of its own.
import { createServer } from 'node:http';
import { Agent, request } from 'undici';
import { KEEP_ALIVE_MS, serveBare } from './ipc.js';

const upstream = process.env.RELAY_UPSTREAM ?? '';
if (!upstream) throw new Error('RELAY_UPSTREAM is not set');
// Keep-alive connections to the model, as Inkstone's providers keep them.
const agent = new Agent({ keepAliveTimeout: KEEP_ALIVE_MS });

const server = createServer((incoming, outgoing) => {
  const chunks: Buffer[] = [];
  incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
  incoming.on('end', () => {
    request(`${upstream}${incoming.url ?? '/'}`, {
      method: incoming.method as 'POST',
      headers: { 'content-type': incoming.headers['content-type'] ?? 'application/json' },
      body: Buffer.concat(chunks),
      dispatcher: agent,
    })
      .then(async (answer) => {
        outgoing.writeHead(answer.statusCode, {
          'content-type': String(answer.headers['content-type'] ?? 'application/octet-stream'),
        });
        for await (const chunk of answer.body) outgoing.write(chunk);
        outgoing.end();
      })
      .catch((error: unknown) => {
        if (!outgoing.headersSent) outgoing.writeHead(502);
        outgoing.end(String(error));
      });
  });
});
server.keepAliveTimeout = KEEP_ALIVE_MS;
await serveBare(server, 'the relay', () => agent.close());
