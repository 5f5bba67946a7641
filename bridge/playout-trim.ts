/**
 * Standing-backlog detection for playout (bridge/playout.ts). Audio held before media is up, or
 * a pipeline that fell behind once, leaves a queue that a real-time pipeline never drains: every
 * later frame is late by it. A burst (TTS sending a reply faster than real time) also queues,
 * but that is audio meant to be played in full. The two look alike by level; they differ by how
 * the queue is fed while it stands:
 * - a standing backlog is fed at real time: over a window, the pipeline pushes about what the
 *   page played, so the level stays where it is;
 * - a burst is fed faster than real time while it arrives, and not at all while it drains.
 * Only the first is trimmed, down to a fixed base (not the current lead, which may have grown).
 */

/**
 * The level a standing backlog is trimmed down to at first, whatever the call's lead has grown
 * to. Each time the pipeline is late after a trim (the page ran dry with nothing waiting here),
 * the call keeps a frame more, up to the max: a sender whose chunks come later gets the floor it
 * needs. With eight TTS-like senders (500 ms chunks on a timer) on 2 quiet cores, a 20 ms start
 * underran 20 times in 8 s (μ-law) and 47 (Opus), 40 ms 0 and 3 (docs/ARCHITECTURE.md, Trim).
 */
export const TRIM_BASE_MS = 40;
export const TRIM_BASE_MAX_MS = 100;
/** A backlog below base + margin is left alone: it is jitter, not latency worth a cut. */
export const TRIM_MARGIN_MS = 40;
/** How long the level must stand above base + margin, fed at real time, before a trim. */
export const TRIM_WINDOW_MS = 1000;
/** Pushed vs played within a window that still counts as "real time" (a paced sender's jitter). */
export const TRIM_RATE_TOLERANCE_MS = 100;
/** Audio without silence is cut in short slices, at most one per this much played. */
export const TRIM_SLICE_MS = 5;
export const TRIM_SLICE_EVERY_MS = 100;
/** Every cut is a crossfade over this long, so the join does not click. */
export const TRIM_FADE_MS = 2.5;
/** A frame whose peak stays under this (−40 dBFS) is silence: dropping it first costs nothing heard. */
export const SILENCE_PEAK = 328;

export class BacklogWatch {
  /** Samples still to be dropped from the head of the queue (0: nothing to trim). */
  budget = 0;
  baseSamples: number;
  private readonly maxBaseSamples: number;
  private readonly marginSamples: number;
  readonly windowSamples: number;
  private readonly toleranceSamples: number;
  private winConsumed = 0;
  private winFed = 0;
  private winMin = Infinity;

  constructor(sampleRate: number) {
    const ms = (x: number) => Math.round((x * sampleRate) / 1000);
    this.baseSamples = ms(TRIM_BASE_MS);
    this.maxBaseSamples = ms(TRIM_BASE_MAX_MS);
    this.marginSamples = ms(TRIM_MARGIN_MS);
    this.windowSamples = ms(TRIM_WINDOW_MS);
    this.toleranceSamples = ms(TRIM_RATE_TOLERANCE_MS);
  }

  /** The pipeline ran late after a trim: keep `samples` more from now on (false at the max). */
  raiseBase(samples: number): boolean {
    if (this.baseSamples >= this.maxBaseSamples) return false;
    this.baseSamples = Math.min(this.maxBaseSamples, this.baseSamples + samples);
    return true;
  }

  /** Starts a fresh window (playout started, or a clear emptied the queue). */
  reset(consumed: number, fed: number): void {
    this.budget = 0;
    this.winConsumed = consumed;
    this.winFed = fed;
    this.winMin = Infinity;
  }

  /**
   * The pipeline pushed audio (`fed`: samples accepted in all, never reset). Fed faster than real
   * time within the window is a burst arriving: stop trimming at once, before it is cut into.
   */
  onFed(consumed: number, fed: number): void {
    if (this.budget > 0 && fed - this.winFed > consumed - this.winConsumed + this.toleranceSamples) this.budget = 0;
  }

  /** Every caller frame: `buffered` is what the host and the page hold, in samples. */
  onFrame(consumed: number, fed: number, buffered: number): void {
    if (buffered < this.winMin) this.winMin = buffered;
    const played = consumed - this.winConsumed;
    if (played < this.windowSamples) return;
    const pushed = fed - this.winFed;
    const realTime = Math.abs(pushed - played) <= this.toleranceSamples;
    const standing = realTime && this.winMin > this.baseSamples + this.marginSamples;
    this.budget = standing ? this.winMin - this.baseSamples : 0;
    this.winConsumed = consumed;
    this.winFed = fed;
    this.winMin = buffered;
  }
}

/**
 * Joins `a` (the audio before the cut) into `b` from `bAt` on (the audio after it) over
 * `out.length` samples with a linear crossfade: the first sample is almost `a`'s, the last almost `b`'s.
 */
export function crossfade(a: Int16Array, b: Int16Array, out: Int16Array, bAt = 0): void {
  const n = out.length;
  for (let i = 0; i < n; i++) {
    const w = (i + 1) / (n + 1);
    out[i] = Math.round((1 - w) * a[i] + w * b[bAt + i]);
  }
}
