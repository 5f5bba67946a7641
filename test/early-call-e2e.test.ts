/**
 * A call the moment the host has started: start() resolves once the phone is registered, and the
 * page's audio graph may still be building. The answer waits for the graph in the page, so the
 * call has its audio both ways from the start; /ready is 200 from the start, its `audio` says
 * whether the graph is built.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dominantHz, toneSpan } from "../twin/caller/analysis.ts";
import { startStack, until, type Stack } from "./support/stack.ts";
import { speakTone, startTestPipeline } from "./support/twilio-pipeline.ts";

describe("a call placed as soon as start() resolves", () => {
  let pipeline: Awaited<ReturnType<typeof startTestPipeline>>;
  let stack: Stack;
  let graphBuiltAtStart: boolean;

  beforeAll(async () => {
    pipeline = await startTestPipeline(() => speakTone(880));
    stack = await startStack({ PIPELINE_URL: pipeline.url });
    graphBuiltAtStart = stack.host.status().audio;
    // Registered is ready: a call now waits for the graph in the page, it does not fail.
    expect(await (await fetch(`${stack.httpUrl}/ready`)).json()).toMatchObject({ ready: true, registered: true });
  });
  afterAll(async () => {
    await stack?.stop();
    await pipeline?.close();
  });

  it("is answered with audio both ways; /ready is 200 at once and says when the graph is built", async () => {
    const placed = await stack.placeCall({ from: "+15550000440", play: "tone:440", hangupAfterMs: 3000 });
    console.info(`the audio graph was ${graphBuiltAtStart ? "already built" : "still building"} when start() resolved`);
    const stream = await until(() => pipeline.streams.find((s) => s.start?.callSid === placed.telephonySessionId), "the call's stream");
    await until(async () => (await stack.twinState(placed.callId)) === "ended", "the caller to hang up");
    await until(() => stream.stopped, "stop");

    // Caller → pipeline: the caller's 440 Hz, in ≥ 95 % of the call's frames.
    const call = await stack.twinCall(placed.callId);
    const frames = stream.messages.filter((m) => m.event === "media").length;
    expect(frames).toBeGreaterThanOrEqual(0.95 * ((call.endedAtMs! - call.answeredAtMs!) / 20));
    const a = Float32Array.from(stream.audio);
    expect(Math.abs(dominantHz(a, 8000, Math.floor(a.length * 0.3), a.length) - 440) / 440).toBeLessThan(0.02);

    // Pipeline → caller: 880 Hz without a dropout over 60 ms.
    const rec = await stack.recording(placed.callId);
    expect(Math.abs(dominantHz(rec.samples, rec.rate, Math.floor(rec.samples.length * 0.3)) - 880) / 880).toBeLessThan(0.02);
    const span = toneSpan(rec.samples, rec.rate, 880, -30)!;
    expect(span.longestGapMs).toBeLessThanOrEqual(60);
    expect(span.presence).toBeGreaterThan(0.97);

    expect(stack.host.status().audio).toBe(true);
    expect(await (await fetch(`${stack.httpUrl}/ready`)).json()).toMatchObject({ ready: true, registered: true, audio: true });
  });
});
