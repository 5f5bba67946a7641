import type { AudioSource } from "./source.ts";

/**
 * DTMF from the caller, the two ways a phone network delivers it:
 * - in-band: the standard dual tones mixed into what the caller says (what a PSTN caller's
 *   keypad produces, and what survives any codec badly or well);
 * - RFC 4733: `telephone-event` RTP packets on the caller's audio stream (what RingCentral
 *   relays to a WebRTC endpoint when the far end sends events).
 */

/** The keypad: row (low) and column (high) frequencies in Hz. */
export const DTMF_FREQS: Readonly<Record<string, readonly [number, number]>> = {
  "1": [697, 1209], "2": [697, 1336], "3": [697, 1477], A: [697, 1633],
  "4": [770, 1209], "5": [770, 1336], "6": [770, 1477], B: [770, 1633],
  "7": [852, 1209], "8": [852, 1336], "9": [852, 1477], C: [852, 1633],
  "*": [941, 1209], "0": [941, 1336], "#": [941, 1477], D: [941, 1633],
};

export const DTMF_LOW_HZ = [697, 770, 852, 941] as const;
export const DTMF_HIGH_HZ = [1209, 1336, 1477, 1633] as const;

/** RFC 4733 §3.2 event codes: 0-9, then * = 10, # = 11, A-D = 12-15. */
export function dtmfEventCode(digit: string): number {
  const code = "0123456789*#ABCD".indexOf(digit);
  if (code === -1 || digit.length !== 1) throw new Error(`not a DTMF digit: ${JSON.stringify(digit)}`);
  return code;
}

export const DTMF_DIGITS = /^[0-9*#A-D]+$/;

export type DtmfMode = "inband" | "rfc4733";

/** One digit the caller sent; filled in as it goes out (epoch ms, the twin's wall clock). */
export interface SentDigit {
  digit: string;
  mode: DtmfMode;
  requestedAtMs: number;
  /** When its first tone sample / first event packet went out; null while queued. */
  startedAtMs: number | null;
  /** When its last tone sample / final (E bit) packet went out. */
  endedAtMs: number | null;
  /** Nominal tone length: in-band exactly toneMs; RFC 4733 rounded up to whole 20 ms packets. */
  toneMs: number;
}

export interface DtmfTiming {
  toneMs: number;
  gapMs: number;
}

export const DEFAULT_DTMF_TIMING: DtmfTiming = { toneMs: 70, gapMs: 70 };

/** Per-tone level of in-band DTMF, dBFS (peak of each sine, as play specs' tone levels). */
export const INBAND_DTMF_DBFS = -10;

export function newDigits(digits: string, mode: DtmfMode, toneMs: number, nowMs = Date.now()): SentDigit[] {
  return [...digits].map((digit) => ({ digit, mode, requestedAtMs: nowMs, startedAtMs: null, endedAtMs: null, toneMs }));
}

// ── in-band ─────────────────────────────────────────────────────────────────────

interface InbandItem {
  record?: SentDigit;
  /** Samples of tone (record set) or of silence (a gap). */
  samples: number;
  pos: number;
  low: number;
  high: number;
}

/** 2 ms raised-cosine edges: no clicks, and still well inside the 40 ms minimum tone of Q.24. */
const RAMP_MS = 2;

/**
 * Renders queued digits as dual tones added onto a frame. Tone phase runs from each digit's
 * first sample, so every digit starts clean.
 */
export class InbandDtmf {
  private readonly queue: InbandItem[] = [];
  private readonly gain = 10 ** (INBAND_DTMF_DBFS / 20);
  private readonly ramp: number;

  constructor(readonly rate: number) {
    this.ramp = Math.max(1, Math.round((RAMP_MS * rate) / 1000));
  }

  get busy(): boolean {
    return this.queue.length > 0;
  }

  enqueue(records: SentDigit[], timing: DtmfTiming): void {
    const tone = Math.max(1, Math.round((timing.toneMs * this.rate) / 1000));
    const gap = Math.max(0, Math.round((timing.gapMs * this.rate) / 1000));
    for (const record of records) {
      const [low, high] = DTMF_FREQS[record.digit];
      this.queue.push({ record, samples: tone, pos: 0, low, high });
      if (gap > 0) this.queue.push({ samples: gap, pos: 0, low: 0, high: 0 });
    }
  }

  /** Adds the next `out.length` samples of DTMF onto `out`; `nowMs` is when sample 0 goes out. */
  mix(out: Float32Array, nowMs = Date.now()): void {
    let i = 0;
    while (i < out.length && this.queue.length > 0) {
      const item = this.queue[0];
      const n = Math.min(out.length - i, item.samples - item.pos);
      const rec = item.record;
      if (rec) {
        if (item.pos === 0) rec.startedAtMs = Math.round(nowMs + (i * 1000) / this.rate);
        const wl = (2 * Math.PI * item.low) / this.rate;
        const wh = (2 * Math.PI * item.high) / this.rate;
        for (let k = 0; k < n; k++) {
          const p = item.pos + k;
          const edge = Math.min(p, item.samples - 1 - p);
          const env = edge >= this.ramp ? 1 : 0.5 - 0.5 * Math.cos((Math.PI * edge) / this.ramp);
          out[i + k] += this.gain * env * (Math.sin(wl * p) + Math.sin(wh * p));
        }
        if (item.pos + n === item.samples) rec.endedAtMs = Math.round(nowMs + ((i + n) * 1000) / this.rate);
      }
      item.pos += n;
      i += n;
      if (item.pos >= item.samples) this.queue.shift();
    }
  }
}

/** What the caller says, with any in-band digits mixed on top: the one path every sent frame takes. */
export class CallerVoice {
  readonly dtmf: InbandDtmf;

  constructor(
    public source: AudioSource,
    readonly rate: number,
  ) {
    this.dtmf = new InbandDtmf(rate);
  }

  /** Fills `out` with the next frame; `nowMs` is when it goes out. */
  read(out: Float32Array, nowMs = Date.now()): void {
    this.source.read(out);
    this.dtmf.mix(out, nowMs);
    for (let i = 0; i < out.length; i++) out[i] = Math.max(-1, Math.min(1, out[i]));
  }
}

// ── RFC 4733 ────────────────────────────────────────────────────────────────────

/** RFC 4733 §2.3 payload: event, E bit, reserved, volume (−dBm0), duration (event clock units). */
export function telephoneEventPayload(event: number, end: boolean, volume: number, duration: number): Buffer {
  const b = Buffer.alloc(4);
  b[0] = event & 0xff;
  b[1] = (end ? 0x80 : 0) | (volume & 0x3f);
  b.writeUInt16BE(Math.min(0xffff, duration), 2);
  return b;
}

export function parseTelephoneEvent(payload: Buffer): { event: number; end: boolean; volume: number; duration: number } {
  return { event: payload[0], end: (payload[1] & 0x80) !== 0, volume: payload[1] & 0x3f, duration: payload.readUInt16BE(2) };
}

export interface EventPacket {
  payload: Buffer;
  marker: boolean;
  /** RTP timestamp: the audio stream's timestamp when the event began (same for all its packets). */
  timestamp: number;
}

interface EventItem {
  record?: SentDigit;
  /** Packet intervals the item lasts. */
  ticks: number;
  done: number;
  startTs: number;
}

/** The final packet of an event goes out three times (RFC 4733 §2.5.1.4). */
const END_REPEATS = 3;
/** −10 dBm0, what WebRTC and most phones put in the volume field. */
const EVENT_VOLUME = 10;

/**
 * Queued digits as RFC 4733 event packets, one update per 20 ms tick. While an event lasts the
 * caller sends its packets instead of audio (as WebRTC's sender does); between digits, audio.
 *
 * Timestamps follow what Chrome does: the event's RTP timestamp is the audio stream's timestamp
 * at its start (so the stream's timeline stays one), while the duration counts in the
 * telephone-event clock (8000 Hz as negotiated), whatever the audio codec's clock.
 */
export class Rfc4733Events {
  private readonly queue: EventItem[] = [];
  private readonly unitsPerTick: number;

  constructor(
    readonly eventClockRate = 8000,
    readonly frameMs = 20,
  ) {
    this.unitsPerTick = (eventClockRate * frameMs) / 1000;
  }

  get busy(): boolean {
    return this.queue.length > 0;
  }

  /** RFC 4733 tones last whole packets: toneMs is rounded up to a multiple of the packet interval. */
  roundedToneMs(toneMs: number): number {
    return Math.max(1, Math.ceil(toneMs / this.frameMs)) * this.frameMs;
  }

  enqueue(records: SentDigit[], timing: DtmfTiming): void {
    const tone = Math.max(1, Math.ceil(timing.toneMs / this.frameMs));
    const gap = Math.max(0, Math.ceil(timing.gapMs / this.frameMs));
    for (const record of records) {
      dtmfEventCode(record.digit);
      this.queue.push({ record, ticks: tone, done: 0, startTs: 0 });
      if (gap > 0) this.queue.push({ ticks: gap, done: 0, startTs: 0 });
    }
  }

  /**
   * One packet interval. `streamTs` is the RTP timestamp the audio frame of this tick would carry.
   * Returns the event packets to send instead of that frame, or undefined to send audio.
   */
  tick(streamTs: number, nowMs = Date.now()): EventPacket[] | undefined {
    const item = this.queue[0];
    if (!item) return undefined;
    const rec = item.record;
    if (!rec) {
      if (++item.done >= item.ticks) this.queue.shift();
      return undefined;
    }
    if (item.done === 0) {
      item.startTs = streamTs >>> 0;
      rec.startedAtMs = Math.round(nowMs);
    }
    item.done++;
    const event = dtmfEventCode(rec.digit);
    const duration = item.done * this.unitsPerTick;
    const marker = item.done === 1;
    if (item.done < item.ticks) {
      return [{ payload: telephoneEventPayload(event, false, EVENT_VOLUME, duration), marker, timestamp: item.startTs }];
    }
    this.queue.shift();
    rec.endedAtMs = Math.round(nowMs + this.frameMs);
    return Array.from({ length: END_REPEATS }, (_, k) => ({
      payload: telephoneEventPayload(event, true, EVENT_VOLUME, duration),
      marker: marker && k === 0,
      timestamp: item.startTs,
    }));
  }
}
