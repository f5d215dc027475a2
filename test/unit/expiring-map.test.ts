import { describe, expect, it } from 'vitest';
import { ExpiringMap } from '../../src/cache/expiring-map.js';

describe('ExpiringMap', () => {
  it('forgets an entry once its TTL has passed', () => {
    let now = 1_000;
    const map = new ExpiringMap<string, number>({ ttlMs: 100, maxEntries: 10, now: () => now });
    map.set('a', 1);
    now += 99;
    expect(map.get('a')).toBe(1);
    now += 1;
    expect(map.get('a')).toBeUndefined();
    expect(map.size).toBe(0);
  });

  it('holds at most maxEntries, dropping the oldest set first', () => {
    const map = new ExpiringMap<string, number>({ ttlMs: 1_000, maxEntries: 2, now: () => 0 });
    map.set('a', 1);
    map.set('b', 2);
    map.set('a', 3); // set again: now the newest
    map.set('c', 4);
    expect([map.get('a'), map.get('b'), map.get('c')]).toEqual([3, undefined, 4]);
    expect(map.size).toBe(2);
  });

  it('drops every entry a predicate matches', () => {
    const map = new ExpiringMap<string, { user: number }>({ ttlMs: 1_000, maxEntries: 10, now: () => 0 });
    map.set('t1', { user: 1 });
    map.set('t2', { user: 2 });
    map.set('t3', { user: 1 });
    map.deleteWhere((token) => token.user === 1);
    expect([map.get('t1'), map.get('t2'), map.get('t3')]).toEqual([undefined, { user: 2 }, undefined]);
  });
});
