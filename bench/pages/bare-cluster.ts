// The limit for a cluster: BARE_WORKERS node:cluster workers on PORT, each a bare node:http
// server answering every request with the bytes of Inkstone's page-cache hit on its home page.
import cluster from 'node:cluster';
import { createServer } from 'node:http';
import { bareResponse } from './bare-bytes.js';

const workers = Number(process.env.BARE_WORKERS ?? 2);
if (cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork();
  const stop = () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill('SIGTERM');
    cluster.on('exit', () => {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
    });
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
} else {
  const { headers, body } = bareResponse();
  const server = createServer((_request, response) => {
    response.writeHead(200, headers);
    response.end(body);
  });
  server.listen(Number(process.env.PORT), process.env.HOST ?? '127.0.0.1');
  process.once('SIGTERM', () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}
