/**
 * The page ↔ host channel, typed once for both sides (docs/ARCHITECTURE.md, "Page link").
 * Two WebSockets on a loopback-only port: `control` (JSON: events up, commands down) and
 * `media` (binary frames, one per 20 ms per call in each direction).
 */
import type { SipInfo } from "ringcentral-web-phone/types";

// ── control: commands (host → page) ─────────────────────────────────────────────

export type PreferredCodec = "PCMU" | "opus";

export type Command =
  | { type: "configure"; sampleRate: number; slots: number; preferCodec: PreferredCodec }
  | { type: "register"; sipInfo: SipInfo; instanceId: string }
  | { type: "unregister"; requestId: string }
  | { type: "answer"; requestId: string; callId: string; slot: number }
  | { type: "decline"; requestId: string; callId: string }
  | { type: "hangup"; requestId: string; callId: string }
  | { type: "call"; requestId: string; to: string; from?: string; slot: number }
  | { type: "dtmf"; requestId: string; callId: string; digits: string }
  | { type: "hold" | "unhold" | "mute" | "unmute"; requestId: string; callId: string }
  | { type: "transfer"; requestId: string; callId: string; target: string; mode: "blind" | "warm" }
  | { type: "recording"; requestId: string; callId: string; action: "start" | "stop" };

// ── control: events (page → host) ───────────────────────────────────────────────

export type EndedBy = "remote" | "local" | "failed";

export type PageEvent =
  | { type: "ready"; sampleRate: number; userAgent: string }
  | { type: "registered" }
  | { type: "registrationFailed"; error: string }
  | {
      type: "incoming";
      callId: string;
      telephonySessionId?: string;
      partyId?: string;
      from: string;
      fromName?: string;
      to: string;
      /** RingCentral asked this device to answer at once (Call Control answer). */
      autoAnswer: boolean;
    }
  /** The page started a call the host asked for (`requestId` of the `call` command). */
  | { type: "outgoing"; requestId: string; callId: string; to: string }
  | { type: "answered"; callId: string; codec?: string; telephonySessionId?: string; partyId?: string }
  | { type: "mediaConnected"; callId: string; slot: number }
  | { type: "ended"; callId: string; by: EndedBy; reason?: string }
  | { type: "result"; requestId: string; ok: boolean; error?: string }
  | { type: "log"; level: "debug" | "info" | "warn" | "error"; msg: string; callId?: string };

// ── media: binary frames ────────────────────────────────────────────────────────
// Every frame is one ArrayBuffer: a fixed little-endian header, then mono PCM16 LE at the
// page's sample rate. The header carries the playout counters, so the host paces playback
// and fires marks from the capture stream itself, with no extra messages.

export const enum MediaKind {
  /** Page → host: 20 ms of the caller's audio for a slot. */
  Caller = 1,
  /** Host → page: agent audio to queue for a slot. */
  Agent = 2,
  /** Host → page: drop everything queued for a slot (barge-in). */
  Clear = 3,
}

/** Caller frame header: kind u8, holes u8, slot u16, seq u32, consumed u32, queued u32. */
export const UP_HEADER_BYTES = 16;
/** Host → page header: kind u8, flags u8 (0), slot u16, reserved u32 (0). */
export const DOWN_HEADER_BYTES = 8;

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

export function readCallerHeader(view: DataView): CallerFrameHeader {
  return { slot: view.getUint16(2, true), seq: view.getUint32(4, true), consumed: view.getUint32(8, true), queued: view.getUint32(12, true), holes: view.getUint8(1) };
}

export const frameSamples = (sampleRate: number): number => sampleRate / 50;
export const FRAME_MS = 20;
