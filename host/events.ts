/**
 * Call events out (EVENTS_URL): what they say, and the one door every event goes through. The
 * emitter never waits: an event is handed to the spool (./event-spool.ts, an append to disk)
 * and the delivery (./event-delivery.ts) POSTs it later, so nothing the media path does waits
 * for the receiver. Without EVENTS_URL the host emits into nothing.
 */
import { randomUUID } from "node:crypto";
import type { Call, CallQuality } from "./calls.ts";

export type EventType =
  | "call.ringing"
  | "call.answered"
  | "call.ended"
  | "call.amd"
  | "call.transferred"
  | "recording.saved"
  | "registration.changed";

/** One event as spooled and sent: the Standard Webhooks payload plus its webhook-id. */
export interface SpooledEvent {
  /** webhook-id: the same on every retry, so a receiver can drop duplicates. */
  id: string;
  type: EventType;
  /** ISO 8601, when the host saw it happen. */
  timestamp: string;
  data: Record<string, unknown>;
}

/** Takes an event without waiting (the spool appends it in the background). */
export interface EventSink {
  emit(type: EventType, data: Record<string, unknown>): void;
}

/** Builds an event and gives it to `append`: an id, a time, the data as given. */
export class Events implements EventSink {
  constructor(
    private readonly append: (event: SpooledEvent) => void,
    /** This host's name (HOST_ID in a cluster, else the hostname): which host saw it. */
    private readonly hostId: string,
  ) {}

  emit(type: EventType, data: Record<string, unknown>): void {
    this.append({ id: `msg_${randomUUID()}`, type, timestamp: new Date().toISOString(), data: { ...data, hostId: this.hostId } });
  }
}

/** The events of a host without EVENTS_URL. */
export const NO_EVENTS: EventSink = { emit: () => {} };

/** What every call event says about its call (no stream internals, no secrets). */
export function callData(call: Call): Record<string, unknown> {
  return {
    callId: call.id,
    direction: call.direction,
    from: call.from,
    to: call.to,
    telephonySessionId: call.telephonySessionId ?? null,
    partyId: call.partyId ?? null,
  };
}

/** call.ended: why, how long it rang and talked, and how it sounded. */
export function endedData(call: Call): Record<string, unknown> {
  const endedAtMs = call.endedAtMs ?? Date.now();
  return {
    ...callData(call),
    endReason: call.endReason ?? null,
    codec: call.codec ?? null,
    ringMs: (call.answeredAtMs ?? endedAtMs) - call.createdAtMs,
    talkMs: call.answeredAtMs ? endedAtMs - call.answeredAtMs : 0,
    durationMs: endedAtMs - call.createdAtMs,
    quality: qualitySummary(call.quality),
  };
}

/** The quality as events, recordings' metadata and GET /calls show it (null before the first sample). */
export function qualitySummary(q: CallQuality | undefined): Record<string, unknown> | null {
  return q ? { ...q } : null;
}
