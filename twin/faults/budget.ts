/**
 * How long a fault lasts: for the next `count` uses, for `forMs`, or whichever ends first when
 * both are given. Neither means one use. Every fault the twin injects is bounded by one of these.
 */
export interface BudgetSpec {
  count?: number;
  forMs?: number;
}

export class Budget {
  private remaining: number;
  readonly untilMs: number;
  /** Times the fault struck. */
  used = 0;

  constructor(spec: BudgetSpec) {
    this.remaining = spec.count ?? (spec.forMs === undefined ? 1 : Infinity);
    this.untilMs = spec.forMs === undefined ? Infinity : Date.now() + spec.forMs;
  }

  get live(): boolean {
    return this.remaining > 0 && Date.now() < this.untilMs;
  }

  /** Spends one use if the fault is still live. */
  take(): boolean {
    if (!this.live) return false;
    this.remaining--;
    this.used++;
    return true;
  }

  toJSON(): { live: boolean; remaining: number | null; untilMs: number | null; used: number } {
    return {
      live: this.live,
      remaining: Number.isFinite(this.remaining) ? this.remaining : null,
      untilMs: Number.isFinite(this.untilMs) ? this.untilMs : null,
      used: this.used,
    };
  }
}
