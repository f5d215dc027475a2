import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { userMetrics } from '../../src/metrics/users.js';
import { value } from './scrape.js';

describe('inkstone_active_users', () => {
  it('counts distinct signed-in users seen in the last 5 minutes', async () => {
    let now = 1_000_000;
    const registry = new Registry();
    const users = userMetrics(registry, () => now);
    const active = async () => value(await registry.metrics(), 'inkstone_active_users');

    users.userSeen(1);
    users.userSeen(2);
    users.userSeen(1);
    expect(await active()).toBe(2);
    now += 4 * 60_000;
    users.userSeen(2);
    expect(await active()).toBe(2);
    // User 1 was last seen 5 min and 1 s ago; user 2 4 min before that check.
    now += 60_000 + 1000;
    expect(await active()).toBe(1);
    now += 5 * 60_000;
    expect(await active()).toBe(0);
    // A hundred users 10 s apart between two scrapes: only the last 5 minutes' 30 count.
    for (let id = 100; id < 200; id++) {
      users.userSeen(id);
      now += 10_000;
    }
    expect(await active()).toBe(30);
  });
});
