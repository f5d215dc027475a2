import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import type { DbHandle } from '../../src/db/index.js';
import type { Actor } from '../../src/modules/access/permissions.js';
import { openDatabase } from '../../src/db/migrate.js';
import { toActor } from '../../src/modules/users/service.js';
import { createServices, type Services } from '../../src/services.js';
import { type Answer, type Cluster, call, startCluster } from './cli.js';

// `inkstone serve --workers 2` as it runs (the CLI through tsx): a fresh SQLite file, no Redis,
// the page cache on. Every request opens a connection of its own, so node:cluster hands them to
// the workers in turn, and the x-inkstone-worker header says which one answered.

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('inkstone serve --workers 2 on SQLite without Redis', () => {
  let cluster: Cluster;
  let port: number;
  let primary: ChildProcess;
  let handle: DbHandle;
  let services: Services;
  let token: string;
  let admin: Actor;

  /** `n` anonymous reads of a page, one connection each: both workers among them. */
  async function readAll(path: string, n = 8): Promise<Answer[]> {
    const answers: Answer[] = [];
    for (let i = 0; i < n; i++) answers.push(await call(port, 'GET', path));
    expect(new Set(answers.map((a) => a.worker)).size).toBe(2);
    expect(answers.map((a) => a.status)).toEqual(Array(n).fill(200));
    return answers;
  }

  beforeAll(async () => {
    cluster = await startCluster('cluster', 2, {
      PAGE_CACHE_TTL_SECONDS: '300',
      SHUTDOWN_TIMEOUT_MS: '5000',
    });
    ({ port, primary } = cluster);

    // The primary migrated the file; this process is one more writer on it, for the fixtures.
    handle = (await openDatabase({ kind: 'sqlite', file: cluster.file })).handle;
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
    cluster?.kill();
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
    expect(cluster.output()).not.toMatch(/SQLITE_BUSY/);
    const list = JSON.parse((await call(port, 'GET', '/api/v1/posts?tag=load&perPage=50')).body) as {
      total?: number;
      items: unknown[];
    };
    expect(list.items.length).toBe(40);
  });

  it('restarts a worker that dies, and stops every process with exit 0 on SIGTERM', async () => {
    const [victim] = await cluster.workers(2, 10_000);
    process.kill(Number(victim), 'SIGKILL');
    // A new worker boots through tsx: a few seconds on a quiet machine, far more on a busy one.
    const now = await cluster.workers(2, 90_000, [victim!]);
    expect(now).not.toContain(victim);
    expect(cluster.output()).toMatch(/Worker \d+ died \(SIGKILL\); restarting in \d+ ms/);

    const exited = new Promise<number | null>((resolve) => primary.once('exit', (code) => resolve(code)));
    primary.kill('SIGTERM');
    const timer = setTimeout(() => console.error(`no exit 10 s after SIGTERM: ${cluster.output()}`), 10_000);
    expect(await exited, cluster.output()).toBe(0);
    clearTimeout(timer);
    expect(now.map(Number).filter(alive)).toEqual([]);
  }, 120_000);
});
