import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import type { DbHandle } from '../../src/db/index.js';
import { openDatabase } from '../../src/db/migrate.js';
import type { MetricsSnapshot } from '../../src/modules/admin/metrics-snapshot.js';
import { toActor } from '../../src/modules/users/service.js';
import { createServices } from '../../src/services.js';
import { call, type Cluster, startCluster } from '../cluster/cli.js';
import { freePort } from '../helpers/redis.js';
import { value } from './scrape.js';

// `inkstone serve --workers 2`: /admin/metrics.json is the whole cluster's, whichever worker
// answers, and a user served by both workers is one active user, not two.

describe('/admin/metrics.json and active users under serve --workers 2', () => {
  let cluster: Cluster;
  let handle: DbHandle;
  let metricsPort: number;
  const tokens: Record<'admin' | 'both' | 'one', string> = { admin: '', both: '', one: '' };

  beforeAll(async () => {
    metricsPort = await freePort();
    cluster = await startCluster('admin-metrics', 2, {
      LOG_LEVEL: 'warn',
      METRICS_PORT: String(metricsPort),
    });
    handle = (await openDatabase({ kind: 'sqlite', file: cluster.file })).handle;
    const services = createServices(handle, loadConfig({ NODE_ENV: 'test', AI_PROVIDER: 'none' }));
    for (const [name, role] of [
      ['admin', 'admin'],
      ['both', 'author'],
      ['one', 'reader'],
    ] as const) {
      const user = await services.users.create(
        {
          username: `cluster${name}`,
          email: `cluster${name}@example.com`,
          password: 'correct horse battery',
        },
        role,
      );
      tokens[name] = (await services.auth.createToken(toActor(user), 'admin metrics test')).token;
    }
  }, 120_000);

  afterAll(async () => {
    cluster?.kill();
    await handle?.close();
  });

  const snapshot = async () => {
    const answer = await call(cluster.port, 'GET', '/admin/metrics.json', { token: tokens.admin });
    expect(answer.status, answer.body).toBe(200);
    return { worker: answer.worker, snapshot: JSON.parse(answer.body) as MetricsSnapshot };
  };

  it('reports both workers, whichever takes the request, and counts a user seen by both once', async () => {
    const before = await snapshot();
    // "both" until each worker has served them; "one" once.
    const servedBoth = new Set<string>();
    let sent = 0;
    while (servedBoth.size < 2 && sent < 20) {
      const answer = await call(cluster.port, 'GET', '/api/v1/auth/me', { token: tokens.both });
      expect(answer.status, answer.body).toBe(200);
      servedBoth.add(answer.worker);
      sent++;
    }
    expect(servedBoth.size).toBe(2);
    expect((await call(cluster.port, 'GET', '/api/v1/auth/me', { token: tokens.one })).status).toBe(200);
    sent++;

    // Two readings in a row land on the two workers (a connection each, handed round-robin);
    // each is the cluster's total.
    const readings = [await snapshot(), await snapshot()];
    expect(new Set(readings.map((r) => r.worker)).size).toBe(2);
    for (const { snapshot: after } of readings) {
      expect(after.workers).toBe(2);
      expect(after.http.requests - before.snapshot.http.requests).toBeGreaterThanOrEqual(sent + 1);
      expect(after.http.latency.count - before.snapshot.http.latency.count).toBeGreaterThanOrEqual(sent + 1);
      // The admin (also served by both, reading), "both" and "one": three people.
      expect(after.activeUsers).toBe(3);
    }

    // The Prometheus scrape of the primary counts them alike.
    const scrape = await request(`http://127.0.0.1:${metricsPort}/metrics`);
    const text = await scrape.body.text();
    expect(value(text, 'inkstone_active_users')).toBe(3);
  });
});
