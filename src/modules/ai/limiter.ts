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
 * allowance, refilled smoothly) and model tokens per UTC day. In memory, per process; the
 * scale-out issue backs the same interface with Redis.
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

const DAY_MS = 86_400_000;

export class MemoryUsageLimiter implements UsageLimiter {
  private readonly users = new Map<string, UserState>();

  constructor(
    private readonly limits: UsageLimits,
    private readonly clock: Clock,
  ) {}

  async take(user: string): Promise<LimitDecision> {
    const now = this.clock.now().getTime();
    const state = this.state(user, now);
    const perMs = this.limits.requestsPerMinute / 60_000;
    state.tokens = Math.min(this.limits.requestsPerMinute, state.tokens + (now - state.refilledAt) * perMs);
    state.refilledAt = now;

    if (state.usedToday >= this.limits.tokensPerDay) {
      const wait = Math.ceil((DAY_MS - (now % DAY_MS)) / 1000);
      return this.refuse(state, wait, `You have used today's ${this.limits.tokensPerDay} AI tokens.`);
    }
    if (state.tokens < 1) {
      const wait = Math.ceil((1 - state.tokens) / perMs / 1000);
      return this.refuse(
        state,
        wait,
        `At most ${this.limits.requestsPerMinute} AI requests a minute; try again in ${wait} s.`,
      );
    }
    state.tokens -= 1;
    return { allowed: true, retryAfterSeconds: 0, headers: this.headers(state) };
  }

  async record(user: string, tokens: number): Promise<void> {
    const state = this.state(user, this.clock.now().getTime());
    state.usedToday += tokens;
  }

  private refuse(state: UserState, wait: number, reason: string): LimitDecision {
    return { allowed: false, retryAfterSeconds: wait, headers: this.headers(state), reason };
  }

  private headers(state: UserState): Record<string, string> {
    const perMs = this.limits.requestsPerMinute / 60_000;
    const full = Math.ceil((this.limits.requestsPerMinute - state.tokens) / perMs / 1000);
    return {
      'ratelimit-limit': String(this.limits.requestsPerMinute),
      'ratelimit-remaining': String(Math.max(0, Math.floor(state.tokens))),
      'ratelimit-reset': String(Math.max(0, full)),
    };
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
