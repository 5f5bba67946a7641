/** The page makes one caller frame per 20 ms of its audio clock (bridge/page-frames.ts). */
const FRAME_MS = 20;
/** How fast the estimate may follow a page clock slower than ours: 2 ms a second, far above real drift. */
const MAX_DRIFT = 0.002;

/**
 * When the page made its caller frames, in host time (performance.now() ms). Frames are made every
 * 20 ms of the page's audio clock but reach us late by however long the page's threads, the socket
 * and our event loop took, and a busy moment delays several at once. The least late frame seen
 * dates them all: frame n was made at origin + 20n, where origin is the earliest arrival minus 20n.
 */
export class PageClock {
  private originMs: number | undefined;
  /** The last frame's number: on the wire (u32), and counted on (it wraps after 2.7 years). */
  private lastWire = 0;
  private lastN = 0;
  private lastAtMs = 0;

  /** A caller frame arrived: its sequence number (from 0 when the slot started) and when. */
  onFrame(seq: number, nowMs: number): void {
    const step = (seq - this.lastWire) >>> 0;
    // The first frame, or a counter that went back (a slot started again): date afresh.
    if (this.originMs === undefined || step > 0x7fffffff) {
      this.lastN = seq;
      this.originMs = nowMs - seq * FRAME_MS;
    } else {
      this.lastN += step;
      this.originMs = Math.min(nowMs - this.lastN * FRAME_MS, this.originMs + (nowMs - this.lastAtMs) * MAX_DRIFT);
    }
    this.lastWire = seq;
    this.lastAtMs = nowMs;
  }

  /** When the last frame was made, in host time; undefined before the first. */
  get lastMadeAtMs(): number | undefined {
    return this.originMs === undefined ? undefined : this.originMs + this.lastN * FRAME_MS;
  }
}
