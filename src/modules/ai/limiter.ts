import type { Clock } from '../../clock.js';

export interface UsageLimits {
  requestsPerMinute: number;
  tokensPerDay: number;
}

export interface LimitDecision {
  allowed: boolean;
  /** Seconds until a request would be allowed again (0 when allowed). */
  retryAfterSeconds: number;
  /** RateLimit-Limit / -Remaining / -Reset, for every answer (IETF RateLimit header fields). */
  headers: Record<string, string>;
  /** Which limit refused: a sentence for the author. */
  reason?: string;
}

/**
 * Per-user AI limits: requests per minute as a token bucket (bursts up to the minute's
 * allowance, refilled smoothly) and model tokens per UTC day. MemoryUsageLimiter counts
 * in this process; RedisUsageLimiter (redis-limiter.ts) counts for every instance.
 */
export interface UsageLimiter {
  /** Takes one request from the user's allowance, or says how long to wait. */
  take(user: string): Promise<LimitDecision>;
  /** Counts the model tokens a finished generation used against the daily allowance. */
  record(user: string, tokens: number): Promise<void>;
}

interface UserState {
  tokens: number;
  refilledAt: number;
  day: string;
  usedToday: number;
}

export const DAY_MS = 86_400_000;

export class MemoryUsageLimiter implements UsageLimiter {
  private readonly users = new Map<string, UserState>();

  constructor(
    private readonly limits: UsageLimits,
    private readonly clock: Clock,
  ) {}

  async take(user: string): Promise<LimitDecision> {
    const now = this.clock.now().getTime();
    const state = this.state(user, now);
    state.tokens = refill(this.limits, state.tokens, now - state.refilledAt);
    state.refilledAt = now;
    const decision = decide(this.limits, state.tokens, state.usedToday, now);
    if (decision.allowed) state.tokens -= 1;
    return decision;
  }

  async record(user: string, tokens: number): Promise<void> {
    const state = this.state(user, this.clock.now().getTime());
    state.usedToday += tokens;
  }

  private state(user: string, now: number): UserState {
    const day = new Date(now).toISOString().slice(0, 10);
    let state = this.users.get(user);
    if (!state) {
      state = { tokens: this.limits.requestsPerMinute, refilledAt: now, day, usedToday: 0 };
      this.users.set(user, state);
    }
    if (state.day !== day) {
      state.day = day;
      state.usedToday = 0;
    }
    return state;
  }
}

/** The bucket after `elapsedMs` of refilling, never over the minute's allowance. */
export function refill(limits: UsageLimits, tokens: number, elapsedMs: number): number {
  return Math.min(limits.requestsPerMinute, tokens + elapsedMs * (limits.requestsPerMinute / 60_000));
}

/**
 * One more request, given the refilled bucket and the day's tokens: allowed when both have
 * room. Written once so that every limiter (memory, Redis) refuses with the same sentences
 * and headers; the caller takes the token from the bucket when allowed.
 */
export function decide(limits: UsageLimits, tokens: number, usedToday: number, now: number): LimitDecision {
  const perMs = limits.requestsPerMinute / 60_000;
  if (usedToday >= limits.tokensPerDay) {
    const wait = Math.ceil((DAY_MS - (now % DAY_MS)) / 1000);
    return refuse(limits, tokens, wait, `You have used today's ${limits.tokensPerDay} AI tokens.`);
  }
  if (tokens < 1) {
    const wait = Math.ceil((1 - tokens) / perMs / 1000);
    return refuse(
      limits,
      tokens,
      wait,
      `At most ${limits.requestsPerMinute} AI requests a minute; try again in ${wait} s.`,
    );
  }
  return { allowed: true, retryAfterSeconds: 0, headers: headers(limits, tokens - 1) };
}

function refuse(limits: UsageLimits, tokens: number, wait: number, reason: string): LimitDecision {
  return { allowed: false, retryAfterSeconds: wait, headers: headers(limits, tokens), reason };
}

function headers(limits: UsageLimits, tokens: number): Record<string, string> {
  const perMs = limits.requestsPerMinute / 60_000;
  const full = Math.ceil((limits.requestsPerMinute - tokens) / perMs / 1000);
  return {
    'ratelimit-limit': String(limits.requestsPerMinute),
    'ratelimit-remaining': String(Math.max(0, Math.floor(tokens))),
    'ratelimit-reset': String(Math.max(0, full)),
  };
}
