/**
 * Counts sign-in attempts per key (an IP, an account) in a fixed window; successes are
 * taken back, so what remains are failures and attempts still in flight. In memory, per
 * process; a Redis-backed store can implement the same interface for many instances.
 */
export interface LoginLimiterOptions {
  maxPerIp: number;
  maxPerAccount: number;
  windowSeconds: number;
}

interface Window {
  count: number;
  resetAt: number;
}

export class LoginLimiter {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly options: LoginLimiterOptions,
    private readonly now: () => number = Date.now,
  ) {}

  /** Seconds until the caller may try again, or 0 when it may try now. */
  retryAfter(ip: string, account: string): number {
    const wait = (key: string, max: number) => {
      const window = this.live(key);
      return window && window.count >= max ? Math.ceil((window.resetAt - this.now()) / 1000) : 0;
    };
    return Math.max(
      wait(`ip:${ip}`, this.options.maxPerIp),
      wait(`account:${account}`, this.options.maxPerAccount),
    );
  }

  /** Counts an attempt on both keys; a success takes it back (see recordSuccess). */
  recordAttempt(ip: string, account: string): void {
    this.bump(`ip:${ip}`);
    this.bump(`account:${account}`);
    if (this.windows.size > 100_000) this.sweep();
  }

  /** A successful sign-in clears the account and does not count against the address. */
  recordSuccess(ip: string, account: string): void {
    this.windows.delete(`account:${account}`);
    const window = this.live(`ip:${ip}`);
    if (window && window.count > 0) window.count--;
  }

  private live(key: string): Window | undefined {
    const window = this.windows.get(key);
    if (window && window.resetAt <= this.now()) {
      this.windows.delete(key);
      return undefined;
    }
    return window;
  }

  private bump(key: string): void {
    const window = this.live(key);
    if (window) window.count++;
    else this.windows.set(key, { count: 1, resetAt: this.now() + this.options.windowSeconds * 1000 });
  }

  private sweep(): void {
    for (const key of this.windows.keys()) this.live(key);
  }
}
