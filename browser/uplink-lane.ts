/**
 * One call's RTP audio put back in timestamp order for the fast uplink, with at most one packet
 * held back: a packet ahead of the next expected timestamp waits for one more packet; if that one
 * does not fill the hole either, the hole was lost and becomes silence (a gap). Packets behind
 * what was already released (duplicates, or later than the hold-back) are dropped and counted.
 * Pure logic on RTP timestamps: the worker feeds it, and decodes what it releases in order.
 */

export interface LanePacket {
  /** RTP timestamp, 32 bits. */
  ts: number;
  /** Its audio's length in RTP clock ticks. */
  ticks: number;
  payload: Uint8Array;
}

export interface LaneSink {
  /** The next packet in timestamp order. */
  audio(p: LanePacket): void;
  /** Ticks of the RTP clock no packet covered, before the next audio; `counted` false after a telephone event. */
  gap(ticks: number, counted: boolean): void;
}

/** Bounds one silence fill (an outage or a hold): longer holes are cut to this. */
export const MAX_GAP_MS = 2000;

/** Signed distance a - b of two 32-bit RTP timestamps. */
const diff = (a: number, b: number): number => (a - b) | 0;

export class UplinkLane {
  private expected: number | undefined;
  private held: LanePacket | undefined;
  private ssrc: number | undefined;
  /** A telephone-event or comfort-noise packet took the place of audio: the next hole is no loss. */
  private quietHole = false;
  /** Packets dropped as duplicates or later than the hold-back. */
  late = 0;

  constructor(
    private readonly sink: LaneSink,
    private readonly clockRate: number,
  ) {}

  /** A packet took the place of audio (RFC 4733 event, comfort noise): its span is filled, not counted. */
  notAudio(): void {
    this.quietHole = true;
  }

  push(p: LanePacket, ssrc?: number): void {
    if (ssrc !== undefined && ssrc !== this.ssrc) {
      // A new stream (re-INVITE, transfer): its timestamps start anywhere.
      this.flush();
      this.ssrc = ssrc;
      this.expected = undefined;
    }
    this.expected ??= p.ts;
    const d = diff(p.ts, this.expected);
    if (d < 0 || (this.held && this.held.ts === p.ts)) {
      this.late++;
      return;
    }
    if (d === 0) {
      this.release(p);
      const h = this.held;
      this.held = undefined;
      if (h) this.push(h);
      return;
    }
    if (!this.held) {
      this.held = p;
      return;
    }
    // Two packets ahead: what they skip over is lost.
    const [first, second] = diff(this.held.ts, p.ts) < 0 ? [this.held, p] : [p, this.held];
    this.held = undefined;
    this.fill(diff(first.ts, this.expected));
    this.release(first);
    this.push(second);
  }

  /** Whether a packet waits for its predecessor (the worker flushes it when no packet follows in time). */
  get holding(): boolean {
    return this.held !== undefined;
  }

  /** Releases the held packet, its hole taken as lost. */
  flush(): void {
    const h = this.held;
    if (!h || this.expected === undefined) return;
    this.held = undefined;
    this.fill(diff(h.ts, this.expected));
    this.release(h);
  }

  private fill(ticks: number): void {
    if (ticks <= 0) return;
    this.sink.gap(Math.min(ticks, (this.clockRate * MAX_GAP_MS) / 1000), !this.quietHole);
    this.quietHole = false;
  }

  private release(p: LanePacket): void {
    this.sink.audio(p);
    this.quietHole = false;
    this.expected = (p.ts + p.ticks) >>> 0;
  }
}

/** An Opus packet's length in 48 kHz ticks, from its TOC byte (RFC 6716 §3.1); 0 when malformed. */
export function opusTicks(payload: Uint8Array): number {
  if (payload.length === 0) return 0;
  const toc = payload[0];
  const config = toc >> 3;
  const frameTicks = config < 12 ? [480, 960, 1920, 2880][config & 3] : config < 16 ? [480, 960][config & 1] : [120, 240, 480, 960][config & 3];
  const code = toc & 3;
  const frames = code === 0 ? 1 : code < 3 ? 2 : payload.length > 1 ? payload[1] & 0x3f : 0;
  return frameTicks * frames;
}
