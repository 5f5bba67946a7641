import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dominantHz, goertzel, rmsDbfs, toneSpan } from "../twin/caller/analysis.ts";
import { startStack, until, type Stack } from "./support/stack.ts";
import { speakTone, startTestPipeline, type SeenStream } from "./support/twilio-pipeline.ts";

/** Audio both ways between the twin's caller and a Twilio-protocol pipeline, through real Chrome. */
describe("the spine: caller ⇄ host ⇄ pipeline", () => {
  const toneFor: Record<string, number> = { "+15550000440": 880, "+15550000660": 1320 };
  let pipeline: Awaited<ReturnType<typeof startTestPipeline>>;
  let stack: Stack;

  beforeAll(async () => {
    pipeline = await startTestPipeline((start) => {
      const hz = toneFor[start.customParameters.from];
      if (hz) return speakTone(hz);
      if (start.customParameters.from === "+15550000999") return (s) => void setTimeout(() => s.ws.close(1000, "pipeline done"), 1500);
      return undefined;
    });
    stack = await startStack({ PIPELINE_URL: pipeline.url });
  });
  afterAll(async () => {
    await stack?.stop();
    await pipeline?.close();
  });

  const streamFor = (callSid: string) => until(() => pipeline.streams.find((s) => s.start?.callSid === callSid), `a stream for ${callSid}`);
  const pipelineHz = (s: SeenStream, from = 0.3) => {
    const a = Float32Array.from(s.audio);
    return dominantHz(a, 8000, Math.floor(a.length * from), a.length);
  };

  it("carries the caller's 440 Hz to the pipeline and the pipeline's 880 Hz to the caller", async () => {
    const placed = await stack.placeCall({ from: "+15550000440", play: "tone:440", hangupAfterMs: 3000 });
    const stream = await streamFor(placed.telephonySessionId);
    await until(async () => (await stack.twinState(placed.callId)) === "ended", "the caller to hang up");
    await until(() => stream.stopped, "stop");
    const call = await stack.twinCall(placed.callId);
    expect(call.codec).toBe("PCMU");

    // Caller → pipeline: μ-law 8 kHz, 440 Hz within ±2 %, ≥ 95 % of the frames, in order.
    const media = stream.messages.filter((m) => m.event === "media") as unknown as Array<{ sequenceNumber: string; media: { chunk: string; payload: string } }>;
    const expectedFrames = (call.endedAtMs! - call.answeredAtMs!) / 20;
    expect(media.length).toBeGreaterThanOrEqual(0.95 * expectedFrames);
    media.forEach((m, i) => {
      expect(m.media.chunk).toBe(String(i + 1));
      expect(Buffer.from(m.media.payload, "base64").length).toBe(160);
    });
    const seqs = stream.messages.map((m) => Number(m.sequenceNumber)).filter((n) => !Number.isNaN(n));
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    expect(Math.abs(pipelineHz(stream) - 440) / 440).toBeLessThan(0.02);

    // Pipeline → caller: 880 Hz in the caller's recording, level sane, no dropout over 60 ms.
    const rec = await stack.recording(placed.callId);
    const hz = dominantHz(rec.samples, rec.rate, Math.floor(rec.samples.length * 0.3));
    expect(Math.abs(hz - 880) / 880).toBeLessThan(0.02);
    const span = toneSpan(rec.samples, rec.rate, 880, -30)!;
    expect(span.longestGapMs).toBeLessThanOrEqual(60);
    expect(span.presence).toBeGreaterThan(0.97);
    expect(rmsDbfs(rec.samples, Math.floor(rec.samples.length * 0.3))).toBeGreaterThan(-20);
  });

  it("measures the echo round trip: a beep from the caller comes back through the pipeline", async () => {
    const echoFrom = "+15550000123";
    const placed = await stack.placeCall({ from: echoFrom, play: "silence/800,tone:1000/200,silence", hangupAfterMs: 2500 });
    const stream = await streamFor(placed.telephonySessionId);
    // An echo: every caller frame goes straight back.
    const echoed = new Set<unknown>();
    const timer = setInterval(() => {
      for (const m of stream.messages) {
        if (m.event !== "media" || echoed.has(m)) continue;
        echoed.add(m);
        stream.send({ event: "media", streamSid: stream.start!.streamSid, media: { payload: (m.media as { payload: string }).payload } });
      }
    }, 5);
    await until(async () => (await stack.twinState(placed.callId)) === "ended", "the caller to hang up");
    clearInterval(timer);
    const call = await stack.twinCall(placed.callId);
    const rec = await stack.recording(placed.callId);
    const span = toneSpan(rec.samples, rec.rate, 1000, -40)!;
    const roundTripMs = rec.startedAtMs + span.startMs - (call.caller.connectedAtMs! + 800);
    console.log(`echo round trip (caller → host → pipeline → host → caller): ${roundTripMs} ms`);
    expect(roundTripMs).toBeGreaterThan(0);
    expect(roundTripMs).toBeLessThan(1000);
  });

  it("keeps two concurrent calls apart both ways", async () => {
    const [a, b] = await Promise.all([
      stack.placeCall({ from: "+15550000440", play: "tone:440", hangupAfterMs: 3000 }),
      stack.placeCall({ from: "+15550000660", play: "tone:660", hangupAfterMs: 3000 }),
    ]);
    const [sa, sb] = await Promise.all([streamFor(a.telephonySessionId), streamFor(b.telephonySessionId)]);
    await until(async () => (await stack.twinState(a.callId)) === "ended" && (await stack.twinState(b.callId)) === "ended", "both callers to hang up");
    expect(Math.abs(pipelineHz(sa) - 440)).toBeLessThan(8.8);
    expect(Math.abs(pipelineHz(sb) - 660)).toBeLessThan(13.2);
    // Each pipeline hears nothing of the other caller: the other tone is ≥ 30 dB down.
    const leak = (s: SeenStream, own: number, other: number) => {
      const x = Float32Array.from(s.audio.slice(Math.floor(s.audio.length / 2)));
      return 10 * Math.log10(goertzel(x, 0, 4000, other, 8000) / goertzel(x, 0, 4000, own, 8000));
    };
    expect(leak(sa, 440, 660)).toBeLessThan(-30);
    expect(leak(sb, 660, 440)).toBeLessThan(-30);
    const [ra, rb] = await Promise.all([stack.recording(a.callId), stack.recording(b.callId)]);
    expect(Math.abs(dominantHz(ra.samples, ra.rate, Math.floor(ra.samples.length / 3)) - 880)).toBeLessThan(17.6);
    expect(Math.abs(dominantHz(rb.samples, rb.rate, Math.floor(rb.samples.length / 3)) - 1320)).toBeLessThan(26.4);
    const mid = (r: { samples: Float32Array }) => Math.floor(r.samples.length / 2);
    expect(10 * Math.log10(goertzel(ra.samples, mid(ra), 4000, 1320, ra.rate) / goertzel(ra.samples, mid(ra), 4000, 880, ra.rate))).toBeLessThan(-30);
    expect(10 * Math.log10(goertzel(rb.samples, mid(rb), 4000, 880, rb.rate) / goertzel(rb.samples, mid(rb), 4000, 1320, rb.rate))).toBeLessThan(-30);
  });

  it("ends cleanly when the caller hangs up: the pipeline gets stop and the page's session is gone", async () => {
    const placed = await stack.placeCall({ from: "+15550000777", play: "tone:500" });
    const stream = await streamFor(placed.telephonySessionId);
    await until(async () => (await stack.twinState(placed.callId)) === "answered", "answer");
    await stack.hangupFromCaller(placed.callId);
    await until(() => stream.stopped && stream.closedAtMs, "stop and close");
    const stop = stream.messages.at(-1) as { event: string; stop: { callSid: string } };
    expect(stop.event).toBe("stop");
    expect(stop.stop.callSid).toBe(placed.telephonySessionId);
    const hostCall = await until(() => stack.host.calls.byTelephonySession(placed.telephonySessionId), "host call");
    await until(() => hostCall.state === "ended", "host to end the call");
    expect(hostCall.endReason).toBe("remote-hangup");
    expect(await stack.host.pageSessionCount()).toBe(0);
  });

  it("ends cleanly when the host hangs up", async () => {
    const placed = await stack.placeCall({ from: "+15550000778", play: "tone:500" });
    const stream = await streamFor(placed.telephonySessionId);
    const hostCall = await until(() => stack.host.calls.byTelephonySession(placed.telephonySessionId), "host call");
    await until(() => hostCall.state === "answered", "answer");
    await stack.host.hangup(hostCall.id);
    await until(async () => (await stack.twinState(placed.callId)) === "ended", "the twin to see the BYE");
    expect((await stack.twinCall(placed.callId)).endReason).toBe("agent-hangup");
    await until(() => stream.stopped, "stop");
    expect(hostCall.state).toBe("ended");
    expect(await stack.host.pageSessionCount()).toBe(0);
  });

  it("ends the call cleanly when the pipeline closes mid-call", async () => {
    const placed = await stack.placeCall({ from: "+15550000999", play: "tone:500" });
    await until(async () => (await stack.twinState(placed.callId)) === "ended", "the call to end after the pipeline left", 8000);
    expect((await stack.twinCall(placed.callId)).endReason).toBe("agent-hangup");
    const hostCall = stack.host.calls.byTelephonySession(placed.telephonySessionId)!;
    expect(hostCall.endReason).toBe("pipeline-closed");
    expect(await stack.host.pageSessionCount()).toBe(0);
  });
});

describe("recovery", () => {
  it("relaunches Chrome after it dies, ends its calls, and takes new calls again", async () => {
    const pipeline = await startTestPipeline(() => speakTone(880));
    const stack = await startStack({ PIPELINE_URL: pipeline.url });
    try {
      const first = await stack.placeCall({ from: "+15550005000", play: "tone:440" });
      const hostCall = await until(() => stack.host.calls.byTelephonySession(first.telephonySessionId), "host call");
      await until(() => hostCall.state === "answered", "answer");
      const registeredBefore = (await (await fetch(`${stack.twin.controlUrl}/registrations`)).json()).records.length;
      expect(registeredBefore).toBe(1);
      stack.host.browserProcess()?.kill("SIGKILL");
      await until(() => hostCall.state === "ended", "the call to be ended with its page");
      expect(hostCall.endReason).toBe("page-lost");
      // While Chrome is down, POST /calls is a retryable 503, not a 500 (the check and the call are one tick).
      await until(() => !stack.host.status().registered, "the registration to be reported down");
      await expect(stack.host.placeCall("+15550005999")).rejects.toMatchObject({ status: 503 });
      await until(() => stack.host.status().registered, "re-registration", 20_000);
      const second = await stack.placeCall({ from: "+15550005001", play: "tone:440", hangupAfterMs: 2000 });
      await until(async () => (await stack.twinState(second.callId)) === "ended", "the new call to end");
      const heard = (await stack.twinCall(second.callId)).heard!;
      expect(Math.abs(heard.dominantHz! - 880)).toBeLessThan(17.6);
    } finally {
      await stack.stop();
      await pipeline.close();
    }
  });
});
