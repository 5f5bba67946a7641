/**
 * An answered call's receive quality, from WebRTC getStats(): what the page's `quality` event
 * carries (bridge/page-protocol.ts). WebRTC reports seconds; the event carries ms.
 */
import type { PageEvent } from "../bridge/page-protocol.ts";

/** How often an answered call's receive quality is sampled (cheap: one getStats per call). */
export const QUALITY_EVERY_MS = 2000;

type Stat = Record<string, unknown> & { type: string; id: string };
const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

/** The receive side of a call from one getStats report: jitter, loss, RTT, jitter buffer, concealment, codec. */
export function qualityOf(sipCallId: string, report: RTCStatsReport): Extract<PageEvent, { type: "quality" }> | undefined {
  const all = [...report.values()] as Stat[];
  const inbound = all.find((s) => s.type === "inbound-rtp" && s.kind === "audio");
  if (!inbound) return undefined;
  const codec = all.find((s) => s.type === "codec" && s.id === inbound.codecId)?.mimeType;
  const remote = all.find((s) => s.type === "remote-inbound-rtp" && num(s.roundTripTime) !== undefined);
  const pair = all.find((s) => s.type === "candidate-pair" && s.nominated && num(s.currentRoundTripTime) !== undefined);
  const rttS = num(remote?.roundTripTime) ?? num(pair?.currentRoundTripTime);
  const emitted = num(inbound.jitterBufferEmittedCount) ?? 0;
  const bufferS = num(inbound.jitterBufferDelay);
  return {
    type: "quality",
    sipCallId,
    ...(typeof codec === "string" && { codec: codec.replace(/^audio\//, "") }),
    jitterMs: Math.max(0, (num(inbound.jitter) ?? 0) * 1000),
    packetsReceived: Math.max(0, Math.trunc(num(inbound.packetsReceived) ?? 0)),
    packetsLost: Math.trunc(num(inbound.packetsLost) ?? 0),
    ...(rttS !== undefined && { rttMs: Math.max(0, rttS * 1000) }),
    ...(bufferS !== undefined && emitted > 0 && { jitterBufferMs: Math.max(0, (bufferS / emitted) * 1000) }),
    concealedSamples: Math.max(0, Math.trunc(num(inbound.concealedSamples) ?? 0)),
    totalSamples: Math.max(0, Math.trunc(num(inbound.totalSamplesReceived) ?? 0)),
  };
}
