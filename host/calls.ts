import { randomUUID } from "node:crypto";
import type { Recording } from "../bridge/call-recorder.ts";
import type { CallStream, StreamStats, TranscriptLine } from "../bridge/stream.ts";

export type CallState = "ringing" | "answering" | "answered" | "ended";

/**
 * How the call sounds as Chrome receives it (WebRTC getStats, sampled every 2 s while answered:
 * ./call-quality.ts). Counters are totals since the answer; jitter is the receiver's estimate.
 */
export interface CallQuality {
  codec: string | null;
  /** Samples taken so far. */
  samples: number;
  /** The last sample's interarrival jitter, its largest and its mean over the samples. */
  jitterMs: number;
  maxJitterMs: number;
  meanJitterMs: number;
  packetsReceived: number;
  packetsLost: number;
  /** lost / (lost + received): 0 on a clean link. */
  lossFraction: number;
  /** Round-trip time (RTCP, else the ICE pair's); null until measured. */
  rttMs: number | null;
  /** Mean time a sample waited in the jitter buffer (jitterBufferDelay / jitterBufferEmittedCount). */
  jitterBufferMs: number | null;
  /** Samples the receiver made up for audio that was lost or late, and their share of all. */
  concealedSamples: number;
  concealedFraction: number | null;
  /** When the last sample was taken (ISO 8601). */
  sampledAt: string;
}

/** One conversation as the host tracks it. RingCentral names it by telephonySessionId + partyId. */
export interface Call {
  id: string;
  /** The WebPhone's SIP Call-ID: how the page names the call session. */
  sipCallId: string;
  direction: "inbound" | "outbound";
  from: string;
  fromName?: string;
  to: string;
  telephonySessionId?: string;
  partyId?: string;
  state: CallState;
  slot?: number;
  codec?: string;
  createdAtMs: number;
  answeredAtMs?: number;
  mediaConnectedAtMs?: number;
  endedAtMs?: number;
  endReason?: string;
  stream?: CallStream;
  /** Final stream counters, kept after the stream is gone. */
  streamStats?: StreamStats;
  /** Per-call pipeline and parameters (outbound calls from the API). */
  pipelineUrl?: string;
  customParameters?: Record<string, string>;
  /** Per-call protocol settings (POST /calls pipelineSettings, e.g. OPENAI_INSTRUCTIONS). */
  pipelineSettings?: Record<string, string>;
  /** The conversation's lines from earlier streams of this call (kept when a stream closes). */
  transcript?: TranscriptLine[];
  transferTarget?: string;
  /** Answering-machine detection result (outbound calls that asked for it). */
  amd?: { result: "human" | "machine" | "unknown"; reason: string; atMs: number };
  /** WebRTC receive quality, from the page's samples (absent until the first). */
  quality?: CallQuality;
  /** Where the call's recording was saved (RECORDINGS_DIR); `failed` if a write failed (the file holds what came before). */
  recording?: Recording;
}

/** The host's call registry and its slots (one page audio path each). */
export class CallRegistry {
  private readonly calls = new Map<string, Call>();
  private readonly bySip = new Map<string, Call>();
  private readonly freeSlots: number[];
  /** Slots given out and not yet back: a slot is freed once, however many paths end its call. */
  private readonly heldSlots = new Set<number>();
  /** Ended calls kept for GET /calls (bounded). */
  private readonly history: string[] = [];
  private readonly listeners: Array<(call: Call) => void> = [];

  constructor(readonly slots: number, private readonly keepEnded = 200) {
    this.freeSlots = Array.from({ length: slots }, (_, i) => slots - 1 - i);
  }

  add(init: Omit<Call, "id" | "createdAtMs" | "state"> & { state?: CallState }): Call {
    const call: Call = { id: randomUUID(), createdAtMs: Date.now(), state: "ringing", ...init };
    this.calls.set(call.id, call);
    this.bySip.set(call.sipCallId, call);
    this.changed(call);
    return call;
  }

  /** Hears every change of a call's state (the cluster writes its records from it). */
  onChange(listener: (call: Call) => void): void {
    this.listeners.push(listener);
  }

  /** A call changed state outside the registry (answering, answered): its listeners hear it. */
  changed(call: Call): void {
    for (const listener of this.listeners) listener(call);
  }

  get(id: string): Call | undefined {
    return this.calls.get(id);
  }

  bySipCallId(sipCallId: string): Call | undefined {
    return this.bySip.get(sipCallId);
  }

  byTelephonySession(telephonySessionId: string, partyId?: string): Call | undefined {
    for (const c of this.calls.values()) if (c.telephonySessionId === telephonySessionId && (!partyId || c.partyId === partyId)) return c;
    return undefined;
  }

  list(): Call[] {
    return [...this.calls.values()];
  }

  active(): Call[] {
    return this.list().filter((c) => c.state !== "ended");
  }

  takeSlot(): number | undefined {
    const slot = this.freeSlots.pop();
    if (slot !== undefined) this.heldSlots.add(slot);
    return slot;
  }

  /** A slot taken for a call that never started. */
  returnSlot(slot: number): void {
    if (this.heldSlots.delete(slot)) this.freeSlots.push(slot);
  }

  /** The call keeps ringing but no longer holds an audio path. */
  releaseSlot(call: Call): void {
    if (call.slot === undefined) return;
    this.returnSlot(call.slot);
    call.slot = undefined;
  }

  end(call: Call, reason: string): boolean {
    if (call.state === "ended") return false;
    call.state = "ended";
    call.endReason = reason;
    call.endedAtMs = Date.now();
    // Cleared, so a late releaseSlot for this call cannot free a slot another call has taken since.
    this.releaseSlot(call);
    this.bySip.delete(call.sipCallId);
    this.history.push(call.id);
    while (this.history.length > this.keepEnded) this.calls.delete(this.history.shift()!);
    this.changed(call);
    return true;
  }
}

/** Who and what a call is, as every view of it shows (GET /calls, the status page). */
export function callParties(call: Call) {
  return {
    id: call.id,
    direction: call.direction,
    from: call.from,
    fromName: call.fromName ?? null,
    to: call.to,
    state: call.state,
    codec: call.codec ?? null,
  };
}

/** What GET /calls shows: no stream internals, no secrets. */
export function callView(call: Call): Record<string, unknown> {
  return {
    ...callParties(call),
    telephonySessionId: call.telephonySessionId ?? null,
    partyId: call.partyId ?? null,
    createdAt: new Date(call.createdAtMs).toISOString(),
    answeredAt: call.answeredAtMs ? new Date(call.answeredAtMs).toISOString() : null,
    endedAt: call.endedAtMs ? new Date(call.endedAtMs).toISOString() : null,
    endReason: call.endReason ?? null,
    stream: call.stream?.stats ?? call.streamStats ?? null,
    transcript: [...(call.transcript ?? []), ...(call.stream?.transcript ?? [])],
    recording: call.recording ?? null,
    transferTarget: call.transferTarget ?? null,
    amd: call.amd ?? null,
    quality: call.quality ?? null,
  };
}
