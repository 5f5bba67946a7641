/**
 * The quality summary (host/call-quality.ts) from the page's samples, and its metrics: one
 * observation per call, bounded codec labels. The samples themselves come from real WebRTC in
 * test/events-e2e.test.ts; here, the arithmetic and the edges a real link rarely shows.
 */
import { describe, expect, it } from "vitest";
import type { PageEventOf } from "../bridge/page-link.ts";
import { addQualitySample, codecLabel, observeCallQuality } from "../host/call-quality.ts";
import type { CallQuality } from "../host/calls.ts";
import { Metrics } from "../host/metrics.ts";

const sample = (s: Partial<PageEventOf<"quality">>): PageEventOf<"quality"> => ({
  type: "quality",
  sipCallId: "sip-1",
  codec: "PCMU",
  jitterMs: 0,
  packetsReceived: 0,
  packetsLost: 0,
  concealedSamples: 0,
  totalSamples: 0,
  ...s,
});

const summary = (...samples: Array<Partial<PageEventOf<"quality">>>): CallQuality => samples.reduce<CallQuality | undefined>((q, s) => addQualitySample(q, sample(s)), undefined)!;

describe("call quality", () => {
  it("keeps the last, largest and mean jitter, the totals of the last sample, and the loss and concealed fractions", () => {
    const q = summary(
      { jitterMs: 2, packetsReceived: 100, packetsLost: 0, rttMs: 10, jitterBufferMs: 40, concealedSamples: 0, totalSamples: 16_000 },
      { jitterMs: 8, packetsReceived: 190, packetsLost: 10, rttMs: 30, concealedSamples: 800, totalSamples: 32_000 },
      { jitterMs: 5, packetsReceived: 290, packetsLost: 10, concealedSamples: 800, totalSamples: 48_000 },
    );
    expect(q).toMatchObject({
      codec: "PCMU",
      samples: 3,
      jitterMs: 5,
      maxJitterMs: 8,
      meanJitterMs: 5,
      packetsReceived: 290,
      packetsLost: 10,
      // Fractions to 5 places, times to 2.
      lossFraction: 0.03333,
      // A sample without RTT or jitter buffer keeps the last one measured.
      rttMs: 30,
      jitterBufferMs: 40,
      concealedSamples: 800,
      concealedFraction: 0.01667,
    });
    expect(Date.parse(q.sampledAt)).not.toBeNaN();
  });

  it("reads a negative RTCP loss (duplicates) as none, and nothing measured as null or 0, never NaN", () => {
    const q = summary({ packetsLost: -3, packetsReceived: 0, totalSamples: 0, codec: undefined });
    expect(q).toMatchObject({ codec: null, packetsLost: 0, lossFraction: 0, rttMs: null, jitterBufferMs: null, concealedFraction: null });
    expect(Object.values(q).some((v) => typeof v === "number" && !Number.isFinite(v))).toBe(false);
  });

  it("is observed once per call by bounded codec, and not at all for a call never sampled", async () => {
    const m = new Metrics();
    observeCallQuality(m, undefined);
    observeCallQuality(m, summary({ codec: "opus", jitterMs: 3, packetsReceived: 99, packetsLost: 1, rttMs: 12, jitterBufferMs: 60 }));
    observeCallQuality(m, summary({ codec: "x-made-up-codec", jitterMs: 1, packetsReceived: 10 }));
    const text = await m.registry.metrics();
    expect(text).toMatch(/^rcvh_call_jitter_ms_count\{codec="opus"\} 1$/m);
    expect(text).toMatch(/^rcvh_call_jitter_ms_count\{codec="other"\} 1$/m);
    expect(text).toMatch(/^rcvh_call_packet_loss_ratio_bucket\{le="0.01",codec="opus"\} 1$/m);
    expect(text).toMatch(/^rcvh_call_packet_loss_ratio_bucket\{le="0.005",codec="opus"\} 0$/m);
    // RTT and jitter buffer only where measured.
    expect(text).toMatch(/^rcvh_call_rtt_ms_count\{codec="opus"\} 1$/m);
    expect(text).not.toMatch(/^rcvh_call_rtt_ms_count\{codec="other"\}/m);
    expect(text).not.toContain("x-made-up-codec");
    expect(["PCMU", "pcma", "OPUS", "G722", "telephone-event", "", null, undefined].map(codecLabel)).toEqual(["pcmu", "pcma", "opus", "g722", "other", "unknown", "unknown", "unknown"]);
  });
});
