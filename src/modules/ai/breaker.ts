import type { Clock } from '../../clock.js';

export type BreakerState = 'closed' | 'open' | 'half-open';

/**
 * A circuit breaker per provider. Closed: calls go through and consecutive failures are
 * counted; at `failures` it opens. Open: calls are refused at once (they go to the
 * fallback) for `halfOpenMs`. Then one probe is let through while every other call is
 * still refused; the probe's first token closes the circuit, its failure opens it again.
 *
 * Not cockatiel's: there, calls arriving while half-open wait for the probe to finish (a
 * whole streamed answer) instead of going to the fallback, and a probe counts as a success
 * only when the call returns, where here the first token already shows the server is back.
 */
export class CircuitBreaker {
  private current: BreakerState = 'closed';
  private consecutive = 0;
  private openedAt = 0;
  private probing = false;

  constructor(
    private readonly options: { failures: number; halfOpenMs: number },
    private readonly clock: Clock,
  ) {}

  get state(): BreakerState {
    if (this.current === 'open' && this.clock.now().getTime() - this.openedAt >= this.options.halfOpenMs) {
      return 'half-open';
    }
    return this.current;
  }

  /** Whether a call may go through now; a half-open circuit admits one probe at a time. */
  tryPass(): { pass: boolean; probe: boolean } {
    const state = this.state;
    if (state === 'closed') return { pass: true, probe: false };
    if (state === 'half-open' && !this.probing) {
      this.current = 'half-open';
      this.probing = true;
      return { pass: true, probe: true };
    }
    return { pass: false, probe: false };
  }

  /** The provider answered (a first token or a complete answer). */
  success(): void {
    this.consecutive = 0;
    this.probing = false;
    this.current = 'closed';
  }

  /** A failure that says something about the provider's health (not a bad request). */
  failure(): void {
    this.consecutive++;
    const wasProbe = this.current === 'half-open';
    this.probing = false;
    if (wasProbe || this.consecutive >= this.options.failures) {
      this.current = 'open';
      this.openedAt = this.clock.now().getTime();
    }
  }

  /** A probe that ended without telling (cancelled by its caller): let the next call probe. */
  release(): void {
    this.probing = false;
  }

  /** Milliseconds until an open circuit lets a probe through. */
  retryInMs(): number {
    if (this.current !== 'open') return 0;
    return Math.max(0, this.openedAt + this.options.halfOpenMs - this.clock.now().getTime());
  }
}
