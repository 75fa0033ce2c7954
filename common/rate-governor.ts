/**
 * Paces batch starts to a messages-per-second budget and backs off when Mailgun
 * rate-limits: the budget halves on every batch that met a 429 and recovers by
 * 10% of the configured rate per clean batch. Pure and clock-free (callers pass
 * `now`), so the workflow can use it with its deterministic time.
 *
 * Starts may run up to BURST_MS ahead of the exact schedule: Temporal timers
 * fire with about a second's granularity, so pacing finer than that would cost
 * a second per batch instead of milliseconds. The average still holds the rate.
 */

export interface RateGovernorState {
  /** Fraction of the configured rate currently allowed, 1/32..1. */
  factor: number;
  /** Earliest epoch ms the next batch may start. */
  nextStartAt: number;
}

const MIN_FACTOR = 1 / 32;
const RECOVERY_STEP = 0.1;
export const BURST_MS = 1000;

export class RateGovernor {
  private factor: number;
  private nextStartAt: number;

  constructor(
    private readonly ratePerSecond: number,
    state: RateGovernorState = RateGovernor.initialState(),
  ) {
    if (!(ratePerSecond > 0)) throw new RangeError(`ratePerSecond must be positive, got ${ratePerSecond}`);
    this.factor = state.factor;
    this.nextStartAt = state.nextStartAt;
  }

  static initialState(): RateGovernorState {
    return { factor: 1, nextStartAt: 0 };
  }

  currentRate(): number {
    return this.ratePerSecond * this.factor;
  }

  delayBeforeNext(now: number): number {
    return Math.max(0, this.nextStartAt - BURST_MS - now);
  }

  /** A batch of `size` messages started at `now`: the next one waits its share of the budget. */
  started(size: number, now: number): void {
    this.nextStartAt = Math.max(now, this.nextStartAt) + (size / this.currentRate()) * 1000;
  }

  /** A batch finished; `rateLimitedMs` is how long Mailgun made it wait. */
  observe(rateLimitedMs: number, now: number): void {
    if (rateLimitedMs > 0) {
      this.factor = Math.max(MIN_FACTOR, this.factor / 2);
      this.nextStartAt = Math.max(this.nextStartAt, now + BURST_MS + rateLimitedMs);
    } else {
      this.factor = Math.min(1, this.factor + RECOVERY_STEP);
    }
  }

  state(): RateGovernorState {
    return { factor: this.factor, nextStartAt: this.nextStartAt };
  }
}
