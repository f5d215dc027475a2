import { Counter, Gauge, type Registry } from 'prom-client';

const ACTIVE_WINDOW_MS = 5 * 60_000;
const PRUNE_EVERY_MS = 60_000;

export const ACTIVE_USERS = 'inkstone_active_users';
// In a cluster the primary counts the union of the workers' ids (src/metrics/cluster.ts).
export const ACTIVE_USERS_HELP =
  'Distinct signed-in users seen in the last 5 minutes (in a cluster, distinct over all workers)';

/** Posts created, sign-ups, and signed-in users seen lately. */
export function userMetrics(registry: Registry, now: () => number = Date.now) {
  const registers = [registry];
  const postsCreated = new Counter({
    name: 'inkstone_posts_created_total',
    help: 'Posts created',
    registers,
  });
  const registrations = new Counter({
    name: 'inkstone_user_registrations_total',
    help: 'User accounts created (sign-ups, the first admin, accounts an admin made)',
    registers,
  });
  // User id → when last seen. Ids never become labels: only their count is exported.
  const seen = new Map<number, number>();
  let prunedAt = now();
  const prune = (at: number) => {
    prunedAt = at;
    for (const [id, when] of seen) if (at - when > ACTIVE_WINDOW_MS) seen.delete(id);
  };
  new Gauge({
    name: ACTIVE_USERS,
    help: ACTIVE_USERS_HELP,
    registers,
    collect() {
      prune(now());
      this.set(seen.size);
    },
  });
  return {
    postCreated: () => postsCreated.inc(),
    userRegistered: () => registrations.inc(),
    /** A request by a signed-in user. */
    userSeen(id: number) {
      const at = now();
      // Updated in place: pruning reads every entry, so the map's order does not matter (a
      // delete and a re-insert on each signed-in request left holes to rehash away).
      seen.set(id, at);
      if (at - prunedAt > PRUNE_EVERY_MS) prune(at);
    },
    /** The ids seen in the window, for the cluster's distinct count (never exported as labels). */
    activeIds(): number[] {
      prune(now());
      return [...seen.keys()];
    },
  };
}
