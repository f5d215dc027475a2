/**
 * Counts sign-in attempts per key (an IP, an account) in a fixed window; successes are
 * taken back, so what remains are failures and attempts still in flight. The in-memory
 * limiter counts per process; redis-login-limiter.ts counts for every instance at once.
 */
export interface LoginLimiterOptions {
  maxPerIp: number;
  maxPerAccount: number;
  windowSeconds: number;
}

export interface LoginLimiter {
  /**
   * Seconds until the caller may try again (the attempt is refused and not counted), or 0:
   * the attempt is counted on both keys and may go ahead. Check and count are one step, so
   * parallel guesses (on any instance, for the Redis limiter) cannot all slip under the limit.
   */
  take(ip: string, account: string): Promise<number>;
  /** A successful sign-in clears the account and does not count against the address. */
  recordSuccess(ip: string, account: string): Promise<void>;
}

interface Window {
  count: number;
  resetAt: number;
}

export class MemoryLoginLimiter implements LoginLimiter {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly options: LoginLimiterOptions,
    private readonly now: () => number = Date.now,
  ) {}

  async take(ip: string, account: string): Promise<number> {
    const wait = this.retryAfter(ip, account);
    if (wait > 0) return wait;
    this.bump(`ip:${ip}`);
    this.bump(`account:${account}`);
    if (this.windows.size > 100_000) this.sweep();
    return 0;
  }

  async recordSuccess(ip: string, account: string): Promise<void> {
    this.windows.delete(`account:${account}`);
    const window = this.live(`ip:${ip}`);
    if (window && window.count > 0) window.count--;
  }

  private retryAfter(ip: string, account: string): number {
    const wait = (key: string, max: number) => {
      const window = this.live(key);
      return window && window.count >= max ? Math.ceil((window.resetAt - this.now()) / 1000) : 0;
    };
    return Math.max(
      wait(`ip:${ip}`, this.options.maxPerIp),
      wait(`account:${account}`, this.options.maxPerAccount),
    );
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
