import { describe, expect, it } from "vitest";
import { startBargeInPipeline, SENTENCE_HZ } from "../examples/barge-in-pipeline.ts";
import { startEchoPipelineL16 } from "../examples/echo-pipeline-l16.ts";
import { dominantHz, goertzel, toneSpan } from "../twin/caller/analysis.ts";
import { startStack, until } from "./support/stack.ts";

/** The example pipelines users copy work against the host as documented. */
describe("example pipelines", () => {
  it("L16 echo: the caller hears itself back at 16 kHz", async () => {
    const echo = await startEchoPipelineL16();
    const stack = await startStack({ PIPELINE_URL: echo.url, PIPELINE_PROTOCOL: "l16", PIPELINE_SAMPLE_RATE: "16000" });
    try {
      const placed = await stack.placeCall({ from: "+15550009000", play: "tone:523", hangupAfterMs: 2500 });
      await until(async () => (await stack.twinState(placed.callId)) === "ended", "the call to end");
      await until(() => echo.streams[0]?.stopped, "stop");
      expect(echo.streams[0].framesOut).toBeGreaterThan(80);
      const rec = await stack.recording(placed.callId);
      expect(Math.abs(dominantHz(rec.samples, rec.rate, Math.floor(rec.samples.length / 3)) - 523)).toBeLessThan(10.5);
    } finally {
      await stack.stop();
      await echo.close();
    }
  });

  it("barge-in: the pipeline stops when the caller talks over it and knows what was heard", async () => {
    const pipeline = await startBargeInPipeline(0, "127.0.0.1", { log: () => {} });
    const stack = await startStack({ PIPELINE_URL: pipeline.url });
    try {
      // The caller listens for 2.5 s, then talks over the reply.
      const placed = await stack.placeCall({ from: "+15550009001", play: "silence/2500,tone:300@-10/1500,silence", hangupAfterMs: 6000 });
      await until(async () => (await stack.twinState(placed.callId)) === "ended", "the call to end", 15_000);
      const s = pipeline.streams[0];
      expect(s.bargeInAtMs).toBeDefined();
      expect(s.cutOff).toBeDefined();
      expect(s.heard.length + 1 + s.unheard.length).toBe(s.sentences.length);
      expect(s.ackPlayed).toBe(true);
      // The caller heard the first sentence's pitch, and none of the sentences never played.
      const rec = await stack.recording(placed.callId);
      expect(toneSpan(rec.samples, rec.rate, SENTENCE_HZ[0], -35)).toBeDefined();
      // Over the whole recording (fine frequency resolution): the unplayed pitches are ≥ 30 dB below the first.
      const whole = (hz: number) => goertzel(rec.samples, 0, rec.samples.length, hz, rec.rate);
      for (const name of s.unheard) {
        const hz = SENTENCE_HZ[s.sentences.indexOf(name)];
        expect(10 * Math.log10(whole(hz) / whole(SENTENCE_HZ[0])), `${name} (${hz} Hz) was never played`).toBeLessThan(-30);
      }
    } finally {
      await stack.stop();
      await pipeline.close();
    }
  });
});
