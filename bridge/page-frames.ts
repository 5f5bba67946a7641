/**
 * The page link's binary media frames, written and read by both ends: the page's audio worklet
 * (browser/media-hub.worklet.ts) and the host (bridge/page-link.ts). Every frame is one
 * ArrayBuffer: a fixed little-endian header, then mono PCM16 LE at the page's sample rate. Caller
 * frames carry the slot's playout counters, so the host paces playback and fires marks from the
 * capture stream itself, with no extra messages.
 *
 * The functions take positions, not objects: the worklet writes a header every 20 ms per call on a
 * real-time thread, and the host reads one into a reused header, so neither allocates per frame.
 */

export const enum MediaKind {
  /** Page → host: 20 ms of the caller's audio for a slot. */
  Caller = 1,
  /** Host → page: agent audio to queue for a slot. */
  Agent = 2,
  /** Host → page: drop everything queued for a slot (barge-in). */
  Clear = 3,
  /**
   * Page → host: 20 ms of the caller's audio decoded straight from RTP (the fast uplink), ahead
   * of Chrome's jitter buffer. Same layout as Caller, but the counters are the uplink's own.
   */
  CallerFast = 4,
}

/** Caller frame header: kind u8, holes u8, slot u16, seq u32, consumed u32, queued u32. */
export const UP_HEADER_BYTES = 16;
/** Fast caller frame header: kind u8, flags u8 (0), slot u16, seq u32, gaps u32, gapSamples u32. */
export interface FastFrameHeader {
  slot: number;
  /** Frames the slot's fast uplink has sent, mod 2^32: seq × frame samples is the audio sent so far. */
  seq: number;
  /** Gaps in the RTP stream (loss, or a packet later than one packet of hold-back) filled with silence, mod 2^32. */
  gaps: number;
  /** Samples of silence those gaps filled, mod 2^32. */
  gapSamples: number;
}

export function newFastHeader(): FastFrameHeader {
  return { slot: 0, seq: 0, gaps: 0, gapSamples: 0 };
}

/** Page side: stamps a fast caller frame's header (the PCM follows at UP_HEADER_BYTES). */
export function writeFastHeader(view: DataView, slot: number, seq: number, gaps: number, gapSamples: number): void {
  view.setUint8(0, MediaKind.CallerFast);
  view.setUint8(1, 0);
  view.setUint16(2, slot, true);
  view.setUint32(4, seq >>> 0, true);
  view.setUint32(8, gaps >>> 0, true);
  view.setUint32(12, gapSamples >>> 0, true);
}

/** Host side: true and `into` filled when `view` holds a fast caller frame. */
export function readFastHeader(view: DataView, into: FastFrameHeader): boolean {
  if (view.byteLength < UP_HEADER_BYTES || view.getUint8(0) !== MediaKind.CallerFast) return false;
  into.slot = view.getUint16(2, true);
  into.seq = view.getUint32(4, true);
  into.gaps = view.getUint32(8, true);
  into.gapSamples = view.getUint32(12, true);
  return true;
}

/** Host → page header: kind u8, flags u8 (0), slot u16, reserved u32 (0). */
export const DOWN_HEADER_BYTES = 8;
/** Slots a frame header can name: `slot` is a u16 (MAX_CONCURRENT_CALLS is bounded by it). */
export const MAX_SLOTS = 0x10000;

export const FRAME_MS = 20;
export const frameSamples = (sampleRate: number): number => sampleRate / 50;
/**
 * The page's render quantum (AudioContext `renderSizeHint`): the largest power of two up to 128
 * that lasts at most 8 ms, 64 samples at 8 kHz instead of WebAudio's default 128 (16 ms). A clear
 * reaches the worklet between quanta, so the quantum bounds how long it waits to take effect.
 */
export const renderQuantum = (sampleRate: number): number => {
  let q = 128;
  while (q > 32 && (q * 1000) / sampleRate > 8) q /= 2;
  return q;
};

export interface CallerFrameHeader {
  slot: number;
  seq: number;
  /** Agent samples the slot has consumed so far (played, or dropped by a clear), mod 2^32. */
  consumed: number;
  /** Agent samples queued in the page for this slot now. */
  queued: number;
  /** Holes in the agent audio the slot has played (silences under 250 ms inside agent audio), mod 256. */
  holes: number;
}

export function newCallerHeader(): CallerFrameHeader {
  return { slot: 0, seq: 0, consumed: 0, queued: 0, holes: 0 };
}

/** Page side: stamps a caller frame's header (the PCM follows at UP_HEADER_BYTES). */
export function writeCallerHeader(view: DataView, slot: number, seq: number, consumed: number, queued: number, holes: number): void {
  view.setUint8(0, MediaKind.Caller);
  view.setUint8(1, holes & 0xff);
  view.setUint16(2, slot, true);
  view.setUint32(4, seq >>> 0, true);
  view.setUint32(8, consumed >>> 0, true);
  view.setUint32(12, queued >>> 0, true);
}

/** Host side: true and `into` filled when `view` holds a caller frame. */
export function readCallerHeader(view: DataView, into: CallerFrameHeader): boolean {
  if (view.byteLength < UP_HEADER_BYTES || view.getUint8(0) !== MediaKind.Caller) return false;
  into.holes = view.getUint8(1);
  into.slot = view.getUint16(2, true);
  into.seq = view.getUint32(4, true);
  into.consumed = view.getUint32(8, true);
  into.queued = view.getUint32(12, true);
  return true;
}

/** Host side: stamps an agent or clear frame's header. */
export function writeDownHeader(view: DataView, kind: MediaKind.Agent | MediaKind.Clear, slot: number): void {
  view.setUint8(0, kind);
  view.setUint8(1, 0);
  view.setUint16(2, slot, true);
  view.setUint32(4, 0, true);
}

/** Page side: the kind of a host → page frame (0 when too short to be one). */
export function downKind(view: DataView): number {
  return view.byteLength < DOWN_HEADER_BYTES ? 0 : view.getUint8(0);
}

export function downSlot(view: DataView): number {
  return view.getUint16(2, true);
}
