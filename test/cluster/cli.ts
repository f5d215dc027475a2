// `inkstone serve --workers N` as the cluster tests start it: the real CLI on a SQLite file of
// its own, no Redis, and one request per connection (node:cluster hands connections round-robin)
// so that each answer's x-inkstone-worker names the worker that gave it.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inject } from 'vitest';
import { freePort } from '../helpers/redis.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface Answer {
  status: number;
  worker: string;
  body: string;
}

/** One request on a connection of its own, with an API token and a JSON body if given; a hang fails it after 10 s. */
export function call(
  port: number,
  method: string,
  path: string,
  options: { token?: string; body?: object } = {},
): Promise<Answer> {
  const { token } = options;
  const payload = options.body && JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent: false,
        headers: {
          connection: 'close',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(payload ? { 'content-type': 'application/json' } : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            worker: String(res.headers['x-inkstone-worker']),
            body: text,
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${path}: no answer within 10 s`)));
    req.end(payload);
  });
}

export interface Cluster {
  port: number;
  /** The SQLite file the primary migrated (a test may open it too, as one more writer). */
  file: string;
  primary: ChildProcess;
  /** What the primary and its workers printed so far. */
  output(): string;
  /** Asks until `count` different workers have answered (each is up), or fails after `ms`. */
  workers(count: number, ms: number, exclude?: string[]): Promise<string[]>;
  /** SIGKILL, if it still runs. */
  kill(): void;
}

/**
 * Starts `inkstone serve --workers <workers>` in production mode with `env` on top, and waits
 * until every worker answers. Load shedding is off: a worker booting on a busy machine would trip it.
 */
export async function startCluster(
  name: string,
  workers: number,
  env: Record<string, string> = {},
): Promise<Cluster> {
  const port = await freePort();
  const file = join(inject('testDataFolder'), `${name}-${randomBytes(4).toString('hex')}.db`);
  const full: Record<string, string | undefined> = {
    ...process.env,
    NODE_ENV: 'production',
    SESSION_SECRET: randomBytes(32).toString('hex'),
    LOG_LEVEL: 'info',
    HOST: '127.0.0.1',
    PORT: String(port),
    DATABASE_URL: `sqlite:${file}`,
    AI_PROVIDER: 'none',
    OVERLOAD_EVENT_LOOP_DELAY_MS: '0',
    OVERLOAD_HEAP_PERCENT: '0',
    ...env,
  };
  delete full.REDIS_URL;
  const primary = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/index.ts', 'serve', '--workers', String(workers)],
    { cwd: ROOT, env: full, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  // Vitest may end its worker without afterAll: no process of ours outlives it (the workers
  // exit with their primary's IPC channel).
  const kill = () => primary.kill('SIGKILL');
  process.once('exit', kill);
  primary.once('exit', () => process.off('exit', kill));
  let output = '';
  primary.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  primary.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));

  const cluster: Cluster = {
    port,
    file,
    primary,
    output: () => output,
    async workers(count, ms, exclude = []) {
      const seen = new Set<string>();
      const deadline = Date.now() + ms;
      while (Date.now() < deadline) {
        if (primary.exitCode !== null) throw new Error(`the primary exited (${primary.exitCode}): ${output}`);
        const answer = await call(port, 'GET', '/healthz').catch(() => undefined);
        if (answer?.status === 200 && !exclude.includes(answer.worker)) seen.add(answer.worker);
        if (seen.size >= count) return [...seen];
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(`${count} workers did not answer within ${ms} ms (saw ${[...seen]}): ${output}`);
    },
    kill() {
      if (primary.exitCode === null && primary.signalCode === null) primary.kill('SIGKILL');
    },
  };
  await cluster.workers(workers, 90_000);
  return cluster;
}
