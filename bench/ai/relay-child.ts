// Child process: the control for Inkstone's time-to-first-token overhead. A bare relay
// (node:http in, undici out, the model's stream piped back chunk by chunk, nothing else) on
// Inkstone's CPU: what one more process between the client and the model costs on this
// machine before any gateway does any work of its own.
import { createServer } from 'node:http';
import { Agent, request } from 'undici';
import { cpuMs, type InkstoneCommand, serve } from './ipc.js';

const upstream = process.env.RELAY_UPSTREAM ?? '';
if (!upstream) throw new Error('RELAY_UPSTREAM is not set');
// Keep-alive connections to the model, as Inkstone's providers keep them.
const agent = new Agent({ keepAliveTimeout: 10_000 });

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
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const address = server.address();
if (address === null || typeof address === 'string') throw new Error('not on a TCP port');

// The Inkstone child's commands, so the bench drives both alike; only these mean anything here.
serve<InkstoneCommand>(async (command) => {
  switch (command.type) {
    case 'cpu':
      return cpuMs();
    case 'close':
      server.closeAllConnections();
      server.close();
      await agent.close();
      setImmediate(() => process.exit(0));
      return undefined;
    default:
      throw new Error(`the relay does not answer ${command.type}`);
  }
});
process.send?.({ type: 'ready', url: `http://127.0.0.1:${address.port}` });
