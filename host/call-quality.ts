/**
 * A call's receive quality from the page's `quality` samples (WebRTC getStats every 2 s while
 * answered): the running summary kept on the Call (GET /calls/{id}, call.ended, the recording's
 * metadata), and the per-call metrics, observed once as the call ends (one observation per call,
 * so the histograms are distributions over calls, not over samples).
 */
import type { PageEventOf } from "../bridge/page-link.ts";
import type { CallQuality } from "./calls.ts";
import type { Metrics } from "./metrics.ts";

const round = (x: number, places = 2) => Math.round(x * 10 ** places) / 10 ** places;

/** The summary after one more sample (counters are totals, so the last sample's win). */
export function addQualitySample(prev: CallQuality | undefined, s: PageEventOf<"quality">): CallQuality {
  const samples = (prev?.samples ?? 0) + 1;
  const meanJitterMs = ((prev?.meanJitterMs ?? 0) * (samples - 1) + s.jitterMs) / samples;
  const lost = Math.max(0, s.packetsLost);
  const expected = lost + s.packetsReceived;
  return {
    codec: s.codec ?? prev?.codec ?? null,
    samples,
    jitterMs: round(s.jitterMs),
    maxJitterMs: round(Math.max(prev?.maxJitterMs ?? 0, s.jitterMs)),
    meanJitterMs: round(meanJitterMs),
    packetsReceived: s.packetsReceived,
    packetsLost: lost,
    lossFraction: expected > 0 ? round(lost / expected, 5) : 0,
    rttMs: s.rttMs !== undefined ? round(s.rttMs) : (prev?.rttMs ?? null),
    jitterBufferMs: s.jitterBufferMs !== undefined ? round(s.jitterBufferMs) : (prev?.jitterBufferMs ?? null),
    concealedSamples: s.concealedSamples,
    concealedFraction: s.totalSamples > 0 ? round(s.concealedSamples / s.totalSamples, 5) : null,
    sampledAt: new Date().toISOString(),
  };
}

/** The codec as a bounded metric label. */
export function codecLabel(codec: string | null | undefined): string {
  const c = (codec ?? "").toLowerCase();
  return c === "pcmu" || c === "pcma" || c === "opus" || c === "g722" ? c : c ? "other" : "unknown";
}

/** One observation per call that was sampled at least once. */
export function observeCallQuality(m: Metrics, q: CallQuality | undefined): void {
  if (!q) return;
  const labels = { codec: codecLabel(q.codec) };
  m.callJitterMs.observe(labels, q.meanJitterMs);
  m.callPacketLoss.observe(labels, q.lossFraction);
  if (q.rttMs !== null) m.callRttMs.observe(labels, q.rttMs);
  if (q.jitterBufferMs !== null) m.callJitterBufferMs.observe(labels, q.jitterBufferMs);
}
