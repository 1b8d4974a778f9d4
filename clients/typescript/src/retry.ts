/**
 * Exponential backoff with full jitter: a delay uniform in [0, min(max, base × 2^attempt)]
 * (attempt 0 is the first retry).
 */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(attempt, 0), 30));
  return random() * ceiling;
}

/** Where a circuit stands: closed (in use), open (skipped until the break ends), half-open (one trial allowed). */
export type CircuitState = "closed" | "open" | "half-open";

/**
 * A circuit breaker for one endpoint: after `failures` failed attempts in a row it opens, and the
 * endpoint is skipped for `breakMs`; then one trial attempt is allowed (half-open): a success closes
 * it, a failure opens it again.
 */
export class CircuitBreaker {
  private consecutiveFailures = 0;
  private openedAt: number | undefined;
  private trialInFlight = false;

  constructor(
    private readonly failures: number,
    private readonly breakMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get state(): CircuitState {
    if (this.openedAt === undefined) {
      return "closed";
    }
    return this.now() - this.openedAt >= this.breakMs ? "half-open" : "open";
  }

  /** True when an attempt may be made now (closed, or half-open with no trial running). */
  get available(): boolean {
    const state = this.state;
    return state === "closed" || (state === "half-open" && !this.trialInFlight);
  }

  /** Call before an attempt. */
  attempt(): void {
    if (this.state === "half-open") {
      this.trialInFlight = true;
    }
  }

  success(): void {
    this.consecutiveFailures = 0;
    this.openedAt = undefined;
    this.trialInFlight = false;
  }

  failure(): void {
    this.trialInFlight = false;
    if (this.state === "half-open") {
      this.openedAt = this.now();
      return;
    }
    this.consecutiveFailures++;
    if (this.consecutiveFailures >= this.failures) {
      this.openedAt = this.now();
    }
  }
}
