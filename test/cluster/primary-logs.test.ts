import { afterEach, describe, expect, it } from 'vitest';
import { type Cluster, startCluster } from './cli.js';

// The primary of `serve --workers N` logs by the same rule as its workers (src/http/logging.ts):
// pretty in development when LOG_PRETTY says so, JSON otherwise.

// eslint-disable-next-line no-control-regex -- colours, if pino-pretty added them
const plain = (text: string) => text.replace(/\x1b\[[0-9;]*m/g, '');

describe('the cluster primary’s log lines', { timeout: 120_000 }, () => {
  let cluster: Cluster | undefined;
  afterEach(() => {
    cluster?.kill();
    cluster = undefined;
  });

  it('are pretty in development with LOG_PRETTY=true, as the workers’ are', async () => {
    cluster = await startCluster('pretty-primary', 1, { NODE_ENV: 'development', LOG_PRETTY: 'true' });
    const output = plain(cluster.output());
    expect(output).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: Forked 1 worker\n {4}process: "primary"/m);
    expect(output).not.toContain('"msg":"Forked 1 worker"');
  });

  it('(control) are JSON with LOG_PRETTY=false', async () => {
    cluster = await startCluster('json-primary', 1, { NODE_ENV: 'development', LOG_PRETTY: 'false' });
    const line = cluster
      .output()
      .split('\n')
      .find((text) => text.includes('Forked 1 worker'));
    expect(JSON.parse(line!)).toMatchObject({ process: 'primary', msg: 'Forked 1 worker' });
  });
});
