import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import type { DbHandle } from '../../src/db/index.js';
import type { Actor } from '../../src/modules/access/permissions.js';
import { openDatabase } from '../../src/db/migrate.js';
import { toActor } from '../../src/modules/users/service.js';
import { createServices, type Services } from '../../src/services.js';
import { freePort } from '../helpers/redis.js';

// `inkstone serve --workers 2` as it runs (the CLI through tsx): a fresh SQLite file, no Redis,
// the page cache on. Every request opens a connection of its own, so node:cluster hands them to
// the workers in turn, and the x-inkstone-worker header says which one answered.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Answer {
  status: number;
  worker: string;
  body: string;
}

function call(
  port: number,
  method: string,
  path: string,
  options: { token?: string; body?: object } = {},
): Promise<Answer> {
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
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
          ...(payload ? { 'content-type': 'application/json' } : {}),
        },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, worker: String(res.headers['x-inkstone-worker']), body }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    // A request that hangs fails the test with the cluster's output, not the test's timeout.
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${path}: no answer within 10 s`)));
    req.end(payload);
  });
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('inkstone serve --workers 2 on SQLite without Redis', () => {
  let port: number;
  let primary: ChildProcess;
  let output = '';
  let handle: DbHandle;
  let services: Services;
  let token: string;
  let admin: Actor;

  /** Asks until `count` different workers have answered (each is up), or fails after `ms`. */
  async function workers(count: number, ms: number, exclude: string[] = []): Promise<string[]> {
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
  }

  /** `n` anonymous reads of a page, one connection each: both workers among them. */
  async function readAll(path: string, n = 8): Promise<Answer[]> {
    const answers: Answer[] = [];
    for (let i = 0; i < n; i++) answers.push(await call(port, 'GET', path));
    expect(new Set(answers.map((a) => a.worker)).size).toBe(2);
    expect(answers.map((a) => a.status)).toEqual(Array(n).fill(200));
    return answers;
  }

  beforeAll(async () => {
    port = await freePort();
    const file = join(inject('testDataFolder'), `cluster-${randomBytes(4).toString('hex')}.db`);
    const env: Record<string, string | undefined> = {
      ...process.env,
      NODE_ENV: 'production',
      SESSION_SECRET: randomBytes(32).toString('hex'),
      LOG_LEVEL: 'info',
      HOST: '127.0.0.1',
      PORT: String(port),
      DATABASE_URL: `sqlite:${file}`,
      AI_PROVIDER: 'none',
      PAGE_CACHE_TTL_SECONDS: '300',
      SHUTDOWN_TIMEOUT_MS: '5000',
      // Load shedding is not under test, and a worker booting on a busy machine would trip it.
      OVERLOAD_EVENT_LOOP_DELAY_MS: '0',
      OVERLOAD_HEAP_PERCENT: '0',
    };
    delete env.REDIS_URL;
    primary = spawn(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', 'serve', '--workers', '2'], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Vitest may end its worker without afterAll: no process of ours outlives it (the workers
    // exit with their primary's IPC channel).
    const kill = () => primary.kill('SIGKILL');
    process.once('exit', kill);
    primary.once('exit', () => process.off('exit', kill));
    primary.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    primary.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await workers(2, 90_000);

    // The primary migrated the file; this process is one more writer on it, for the fixtures.
    handle = (await openDatabase({ kind: 'sqlite', file })).handle;
    services = createServices(handle, loadConfig({ NODE_ENV: 'test', AI_PROVIDER: 'none' }));
    admin = toActor(
      await services.users.create(
        { username: 'clusteradmin', email: 'clusteradmin@example.com', password: 'correct horse battery' },
        'admin',
      ),
    );
    token = (await services.auth.createToken(admin, 'cluster test')).token;
  }, 120_000);

  afterAll(async () => {
    if (primary && primary.exitCode === null && primary.signalCode === null) primary.kill('SIGKILL');
    await handle?.close();
  });

  it('serves from both workers, and a write through one shows on every worker at once', async () => {
    const before = await readAll('/');
    expect(before.every((a) => !a.body.includes('Written on one worker'))).toBe(true);
    // Written behind the cluster's back (no invalidation): both keep serving their cached page,
    // which is what would be seen after a write if the workers did not tell each other.
    await services.posts.create(
      { title: 'Unannounced row', body: 'Straight into the database.', status: 'published' },
      admin,
    );
    for (const answer of await readAll('/')) expect(answer.body).not.toContain('Unannounced row');

    const created = await call(port, 'POST', '/api/v1/posts', {
      token,
      body: { title: 'Written on one worker', body: 'Seen by all of them.', status: 'published' },
    });
    expect(created.status).toBe(201);
    for (const answer of await readAll('/')) {
      expect(answer.body).toContain('Written on one worker');
      expect(answer.body).toContain('Unannounced row');
    }
  });

  it('shows a settings change on every worker at once', async () => {
    for (const answer of await readAll('/api/v1/settings')) expect(answer.body).toContain('"siteTitle"');
    const changed = await call(port, 'PATCH', '/api/v1/settings', {
      token,
      body: { siteTitle: 'Many Workers, One Site' },
    });
    expect(changed.status).toBe(200);
    for (const answer of await readAll('/api/v1/settings')) {
      expect(JSON.parse(answer.body)).toMatchObject({ siteTitle: 'Many Workers, One Site' });
    }
    for (const answer of await readAll('/')) expect(answer.body).toContain('Many Workers, One Site');
  });

  it('answers 60 concurrent writes on both workers without a 500 or a busy database', async () => {
    const answers = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        i % 3 === 2
          ? call(port, 'PATCH', '/api/v1/settings', {
              token,
              body: { siteDescription: `Written ${i} times` },
            })
          : call(port, 'POST', '/api/v1/posts', {
              token,
              body: {
                title: `Concurrent post ${i}`,
                body: `Number ${i}.`,
                status: 'published',
                tags: ['load'],
              },
            }),
      ),
    );
    expect(new Set(answers.map((a) => a.worker)).size).toBe(2);
    const statuses = answers.map((a) => a.status);
    expect(
      statuses.filter((s) => s !== 200 && s !== 201),
      answers.map((a) => a.body).join('\n'),
    ).toEqual([]);
    expect(output).not.toMatch(/SQLITE_BUSY/);
    const list = JSON.parse((await call(port, 'GET', '/api/v1/posts?tag=load&perPage=50')).body) as {
      total?: number;
      items: unknown[];
    };
    expect(list.items.length).toBe(40);
  });

  it('restarts a worker that dies, and stops every process with exit 0 on SIGTERM', async () => {
    const [victim] = await workers(2, 10_000);
    process.kill(Number(victim), 'SIGKILL');
    // A new worker boots through tsx: a few seconds on a quiet machine, far more on a busy one.
    const now = await workers(2, 90_000, [victim!]);
    expect(now).not.toContain(victim);
    expect(output).toMatch(/Worker \d+ died \(SIGKILL\); restarting in \d+ ms/);

    const exited = new Promise<number | null>((resolve) => primary.once('exit', (code) => resolve(code)));
    primary.kill('SIGTERM');
    const timer = setTimeout(() => console.error(`no exit 10 s after SIGTERM: ${output}`), 10_000);
    expect(await exited, output).toBe(0);
    clearTimeout(timer);
    expect(now.map(Number).filter(alive)).toEqual([]);
  }, 120_000);
});
