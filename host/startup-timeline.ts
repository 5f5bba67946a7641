/**
 * When each step of a start finished, in ms from its beginning: logged with "host: ready" so a
 * slow start shows where its time went. Steps overlap (Chrome starts while RingCentral logs in),
 * so each is an end time, not a duration.
 */
export class StartupTimeline {
  private readonly t0 = performance.now();
  private readonly ends: Record<string, number> = {};

  mark(step: string): void {
    this.ends[step] = Math.round(performance.now() - this.t0);
  }

  get elapsedMs(): number {
    return Math.round(performance.now() - this.t0);
  }

  toJSON(): Record<string, number> {
    return { ...this.ends };
  }
}
