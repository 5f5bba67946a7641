/**
 * The page ↔ host control channel, typed once for both sides (docs/ARCHITECTURE.md, "Page link").
 * Two WebSockets on a loopback-only port: `control` (JSON: events up, commands down, this file)
 * and `media` (binary frames, one per 20 ms per call in each direction: ./page-frames.ts).
 *
 * The page names a call by its SIP Call-ID (`sipCallId`); the host's own call id never reaches
 * the page.
 */
import type { SipInfo } from "ringcentral-web-phone/types";

// ── control: commands (host → page) ─────────────────────────────────────────────

export type PreferredCodec = "PCMU" | "opus";
/** Where the caller's audio for the pipeline is taken (UPLINK): after Chrome's jitter buffer, or straight from RTP. */
export type UplinkMode = "buffered" | "fast";

/** What the page's audio graph is built with (`configure`). */
export interface GraphSettings {
  sampleRate: number;
  slots: number;
  preferCodec: PreferredCodec;
  uplink?: UplinkMode;
}

export type Command =
  /** Build (or keep, when it matches the one built or building) the audio graph; the page answers `ready`. */
  | ({ type: "configure" } & GraphSettings)
  | { type: "register"; sipInfo: SipInfo; instanceId: string }
  | { type: "unregister"; requestId: string }
  /**
   * A new SIP WebSocket and REGISTER after the page reported `sipLost`; then answered calls are
   * re-INVITEd onto it and the rest end `sip-lost`. `sipInfo` when RingCentral refused the old one.
   */
  | { type: "reconnect"; requestId: string; backup: boolean; sipInfo?: SipInfo }
  /** The host's heartbeat: a page whose main thread hangs stops answering it. */
  | { type: "ping"; requestId: string }
  | { type: "answer"; requestId: string; sipCallId: string; slot: number }
  | { type: "decline"; requestId: string; sipCallId: string }
  | { type: "hangup"; requestId: string; sipCallId: string }
  | { type: "call"; requestId: string; to: string; from?: string; slot: number }
  | { type: "dtmf"; requestId: string; sipCallId: string; digits: string }
  | { type: "hold" | "unhold" | "mute" | "unmute"; requestId: string; sipCallId: string }
  | { type: "transfer"; requestId: string; sipCallId: string; target: string; mode: "blind" | "warm" }
  | { type: "recording"; requestId: string; sipCallId: string; action: "start" | "stop" };

// ── control: events (page → host) ───────────────────────────────────────────────

export type EndedBy = "remote" | "local" | "failed";

export type PageEvent =
  /** The graph is built: `buildMs` it took, begun `startedAtMs` after the page's navigation began (start-up diagnostics). */
  | { type: "ready"; sampleRate: number; userAgent: string; buildMs?: number; startedAtMs?: number }
  | { type: "registered" }
  | { type: "registrationFailed"; error: string }
  /**
   * The registration is gone (SIP WebSocket closed, a re-REGISTER refused or unanswered): the host
   * reconnects. `status` is RingCentral's SIP status when it refused (403, 603, ...).
   */
  | { type: "sipLost"; reason: string; status?: number }
  | {
      type: "incoming";
      sipCallId: string;
      telephonySessionId?: string;
      partyId?: string;
      from: string;
      fromName?: string;
      to: string;
      /** RingCentral asked this device to answer at once (Call Control answer). */
      autoAnswer: boolean;
    }
  /** The page started a call the host asked for (`requestId` of the `call` command). */
  | { type: "outgoing"; requestId: string; sipCallId: string; to: string }
  | { type: "answered"; sipCallId: string; codec?: string; telephonySessionId?: string; partyId?: string }
  | { type: "mediaConnected"; sipCallId: string; slot: number }
  | { type: "ended"; sipCallId: string; by: EndedBy; reason?: string }
  /**
   * The call's receive quality, from WebRTC getStats every 2 s while it is answered. Counters
   * are totals since the answer; times in ms (WebRTC reports seconds).
   */
  | {
      type: "quality";
      sipCallId: string;
      codec?: string;
      jitterMs: number;
      packetsReceived: number;
      packetsLost: number;
      rttMs?: number;
      jitterBufferMs?: number;
      concealedSamples: number;
      totalSamples: number;
    }
  | { type: "result"; requestId: string; ok: boolean; error?: string }
  | { type: "log"; level: "debug" | "info" | "warn" | "error"; msg: string; sipCallId?: string };

/** The SIP status in a WebPhone error ("Registration failed: SIP/2.0 603 Decline" → 603). */
export function sipStatusOf(text: string): number | undefined {
  const m = /SIP\/2\.0 (\d{3})/.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** Same graph: a `configure` that asks for what is already built (or building) keeps it. */
export function sameGraph(a: GraphSettings, b: GraphSettings): boolean {
  return a.sampleRate === b.sampleRate && a.slots === b.slots && a.preferCodec === b.preferCodec && (a.uplink ?? "buffered") === (b.uplink ?? "buffered");
}
