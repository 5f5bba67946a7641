import { parseTelephoneEvent } from "./dtmf.ts";

/** RFC 4733 event codes 0-15 as keys (§3.2). */
const DIGITS = "0123456789*#ABCD";

/** A digit the far end pressed, as RFC 4733 telephone-event packets reached the caller. */
export interface HeardDigit {
  digit: string;
  /** Wall-clock ms the event's first packet arrived. */
  atMs: number;
  /** The event's length from its last duration field, in ms (telephone-event clock 8000 Hz). */
  durationMs: number;
}

/**
 * The digits in the telephone-event packets the caller receives (what RingCentral relays when the
 * device presses keys). One event is one RTP timestamp; its updates and the three end packets
 * repeat that timestamp, so a new timestamp is a new key press.
 */
export class HeardDtmf {
  readonly digits: HeardDigit[] = [];
  private lastTs: number | undefined;

  constructor(private readonly eventClockRate = 8000) {}

  push(timestamp: number, payload: Buffer, nowMs = Date.now()): void {
    if (payload.length < 4) return;
    const { event, duration } = parseTelephoneEvent(payload);
    const digit = DIGITS[event];
    if (digit === undefined) return;
    const durationMs = Math.round((duration * 1000) / this.eventClockRate);
    const last = this.digits.at(-1);
    if (last && timestamp === this.lastTs) {
      last.durationMs = Math.max(last.durationMs, durationMs);
      return;
    }
    this.lastTs = timestamp;
    this.digits.push({ digit, atMs: nowMs, durationMs });
  }
}
