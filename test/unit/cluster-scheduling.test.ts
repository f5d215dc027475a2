import cluster from 'node:cluster';
import { describe, expect, it } from 'vitest';
import { schedulingPolicy } from '../../src/cluster.js';

describe('how serve --workers hands out connections', () => {
  it('lets a single worker accept its own connections, and round-robins two or more', () => {
    expect(schedulingPolicy(1, {})).toBe(cluster.SCHED_NONE);
    expect(schedulingPolicy(2, {})).toBe(cluster.SCHED_RR);
    expect(schedulingPolicy(8, {})).toBe(cluster.SCHED_RR);
  });

  it('leaves it to Node when NODE_CLUSTER_SCHED_POLICY is set', () => {
    expect(schedulingPolicy(1, { NODE_CLUSTER_SCHED_POLICY: 'rr' })).toBeUndefined();
    expect(schedulingPolicy(2, { NODE_CLUSTER_SCHED_POLICY: 'none' })).toBeUndefined();
  });
});
